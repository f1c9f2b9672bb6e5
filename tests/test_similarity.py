from media_catalog.catalog import Catalog
from media_catalog.pipeline import scan
from media_catalog.similarity import DEFAULT_THRESHOLD, duplicate_clusters, near_clusters

from .conftest import photo, write_image


def image(name: str, phash: int, *, dhash: int = 0, size: int = 100) -> dict:
    return {
        "sha256": name,
        "phash": f"{phash:016x}",
        "dhash": f"{dhash:016x}",
        "width": size,
        "height": size,
        "format": "PNG",
        "exif": {},
        "files": [f"/{name}.png"],
        "occurrences": [],
    }


def test_clusters_do_not_chain_distinct_photos():
    # A~B and B~C are within 8 bits, A and C are 16 bits apart: never one cluster.
    a, b, c = image("a", 0, size=300), image("b", 0xFF, size=200), image("c", 0xFFFF, size=100)
    clusters = near_clusters([c, b, a], threshold=8)
    assert [[i["sha256"] for i in cluster.images] for cluster in clusters] == [["a", "b"]]


def test_keeper_is_the_largest_then_earliest_then_shortest_path():
    small, big = image("small", 1, size=100), image("big", 3, size=400)
    early = image("early", 0, size=100)
    early["exif"] = {"taken": "2010-01-01T00:00:00"}
    (cluster,) = near_clusters([small, early, big], threshold=4)
    assert [i["sha256"] for i in cluster.images] == ["big", "early", "small"]


def test_near_match_needs_dhash_confirmation():
    assert near_clusters([image("a", 0), image("b", 1, dhash=2**64 - 1)], threshold=8) == []


def test_exact_and_near_tiers_on_real_files(tmp_path):
    root = tmp_path / "site"
    original = photo(1, (400, 300))
    write_image(root / "a.jpg", original, quality=90)
    write_image(root / "copy" / "a.jpg", original, quality=90)  # same bytes
    write_image(root / "small.jpg", original.resize((200, 150)), quality=60)  # same photo
    write_image(root / "other.jpg", photo(2, (400, 300)))
    (root / "post.html").write_text('<img src="a.jpg" alt="one"><img src="other.jpg">')
    db = tmp_path / "c.json"
    scan([root], Catalog(db))
    clusters = duplicate_clusters(Catalog(db), DEFAULT_THRESHOLD)
    assert [c.kind for c in clusters] == ["exact", "near"]
    exact, near = clusters
    assert sorted(exact.images[0]["files"]) == [str(root / "a.jpg"), str(root / "copy" / "a.jpg")]
    assert [i["width"] for i in near.images] == [400, 200]
