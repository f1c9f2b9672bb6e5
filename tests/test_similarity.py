import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from media_catalog import hamming
from media_catalog.catalog import Catalog
from media_catalog.hamming import HammingIndex, brute_pairs
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


codes_strategy = st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=40).flatmap(
    lambda bases: st.lists(
        st.tuples(st.sampled_from(bases), st.lists(st.integers(0, 63), max_size=14)),
        min_size=2,
        max_size=120,
    )
)


@given(codes_strategy, st.integers(0, 16))
def test_multi_index_hashing_finds_exactly_what_brute_force_finds(items, radius):
    # clustered codes: each a base code with a few bits flipped, as real near duplicates are
    codes = np.array([base ^ sum(1 << b for b in set(flips)) for base, flips in items], np.uint64)
    index = HammingIndex(codes)
    brute_below, hamming.BRUTE_BELOW = hamming.BRUTE_BELOW, 0  # the index, not its shortcut
    try:
        got = set(zip(*(a.tolist() for a in index.pairs(radius)), strict=True))
    finally:
        hamming.BRUTE_BELOW = brute_below
    expected = set(zip(*(a.tolist() for a in brute_pairs(codes, radius)), strict=True))
    assert got == expected
    rows, distances = index.search(int(codes[0]), radius)
    everything = np.bitwise_count(codes ^ codes[0])
    assert rows.tolist() == sorted(
        np.flatnonzero(everything <= radius).tolist(), key=lambda r: (everything[r], r)
    )
    assert distances.tolist() == sorted(everything[everything <= radius].tolist())


def test_letterboxed_copy_matches_through_its_trimmed_hash(tmp_path):
    original = photo(5, (480, 320))
    boxed = Image.new("RGB", (480, 400), "black")
    boxed.paste(original, (0, 40))
    write_image(tmp_path / "site" / "photo.jpg", original)
    write_image(tmp_path / "site" / "boxed.jpg", boxed)
    db = tmp_path / "c.json"
    scan([tmp_path / "site"], Catalog(db))
    (cluster,) = duplicate_clusters(Catalog(db))
    assert cluster.to_dict()["distances"][1]["via"] == "trimmed"
    assert [i["height"] for i in cluster.images] == [400, 320]  # keeper: the larger file


def test_cluster_json_adds_keeper_tier_reach_and_distances():
    a, b = image("a", 0, size=300), image("b", 3, dhash=1, size=200)
    b["occurrences"] = [{"article": "/x.html", "position": 0, "file": None}]
    (cluster,) = near_clusters([b, a], threshold=4)
    out = cluster.to_dict()
    assert out["kind"] == "near" and out["tier"] == 2 and out["keeper"] == "a"
    assert out["reach"] == {"articles": 1, "places": 3}
    assert out["distances"] == [
        {"sha256": "a", "phash": 0, "dhash": 0, "via": None},
        {"sha256": "b", "phash": 2, "dhash": 1, "via": None},
    ]
    assert [i["sha256"] for i in out["images"]] == ["a", "b"]
