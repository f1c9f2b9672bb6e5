import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from media_catalog import hamming
from media_catalog.fingerprint import fingerprint
from media_catalog.hamming import brute_pairs
from media_catalog.pipeline import scan
from media_catalog.records import ImageRecord
from media_catalog.similarity import (
    DEFAULT_THRESHOLD,
    VIEWS,
    ViewTable,
    duplicate_clusters,
    near_clusters,
    near_pairs,
    places,
    reach,
    unsure_pairs,
)
from media_catalog.store import open_store

from .conftest import encode, photo, write_image


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


def records(images: list[dict]) -> list[ImageRecord]:
    return [ImageRecord.of_object(image) for image in images]


def test_clusters_do_not_chain_distinct_photos():
    # A~B and B~C are within 8 bits, A and C are 16 bits apart: never one cluster.
    a, b, c = image("a", 0, size=300), image("b", 0xFF, size=200), image("c", 0xFFFF, size=100)
    clusters = near_clusters(records([c, b, a]), threshold=8)
    assert [[i.sha256 for i in cluster.images] for cluster in clusters] == [["a", "b"]]


def test_keeper_is_the_largest_then_earliest_then_shortest_path():
    small, big = image("small", 1, size=100), image("big", 3, size=400)
    early = image("early", 0, size=100)
    early["exif"] = {"taken": "2010-01-01T00:00:00"}
    (cluster,) = near_clusters(records([small, early, big]), threshold=4)
    assert [i.sha256 for i in cluster.images] == ["big", "early", "small"]


def test_near_match_needs_dhash_confirmation():
    assert (
        near_clusters(records([image("a", 0), image("b", 1, dhash=2**64 - 1)]), threshold=8) == []
    )


def test_exact_and_near_tiers_on_real_files(tmp_path):
    root = tmp_path / "site"
    original = photo(1, (400, 300))
    write_image(root / "a.jpg", original, quality=90)
    write_image(root / "copy" / "a.jpg", original, quality=90)  # same bytes
    write_image(root / "small.jpg", original.resize((200, 150)), quality=60)  # same photo
    write_image(root / "other.jpg", photo(2, (400, 300)))
    (root / "post.html").write_text('<img src="a.jpg" alt="one"><img src="other.jpg">')
    db = tmp_path / "c.json"
    scan([root], open_store(db))
    write_image(root / "alone.jpg", photo(3, (400, 300)))  # a photo reused, with no near copy
    write_image(root / "copy" / "alone.jpg", photo(3, (400, 300)))
    scan([root], open_store(db))
    clusters = duplicate_clusters(open_store(db), DEFAULT_THRESHOLD)
    # one cluster per photo: a.jpg's exact copies are a group inside its near cluster
    assert [c.kind for c in clusters] == ["exact", "near"]
    exact, near = clusters
    assert exact.images[0].files == [str(root / "alone.jpg"), str(root / "copy" / "alone.jpg")]
    assert [i.width for i in near.images] == [400, 200]
    assert near.images[0].files == [str(root / "a.jpg"), str(root / "copy" / "a.jpg")]
    assert places(near.images[0]) == 2 and reach(near.images)["places"] == 3


codes_strategy = st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=40).flatmap(
    lambda bases: st.lists(
        st.tuples(st.sampled_from(bases), st.lists(st.integers(0, 63), max_size=14)),
        min_size=2,
        max_size=120,
    )
)


@given(codes_strategy, st.integers(0, 16), st.integers(0, 64), st.randoms())
def test_multi_index_search_finds_exactly_what_brute_force_finds(items, radius, cap, random):
    # clustered codes: each a base code with a few bits flipped, as real near duplicates are
    codes = np.array([base ^ sum(1 << b for b in set(flips)) for base, flips in items], np.uint64)
    confirm = codes[::-1].copy()
    owner = np.array([random.randrange(len(codes)) for _ in codes])
    apart = np.array([random.random() < 0.3 for _ in codes])
    brute_below, hamming.BRUTE_BELOW = hamming.BRUTE_BELOW, 0  # the index, not its shortcut
    try:
        i, j = hamming.pairs_within(codes, radius, confirm, cap, owner, apart)
    finally:
        hamming.BRUTE_BELOW = brute_below
    bi, bj, _ = brute_pairs(codes, radius)
    keep = (
        (np.bitwise_count(confirm[bi] ^ confirm[bj]) <= cap)
        & (owner[bi] != owner[bj])
        & ~(apart[bi] & apart[bj])
    )
    expected = sorted(zip(bi[keep].tolist(), bj[keep].tolist(), strict=True))
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == expected
    si, sj = hamming.pairs_within(codes, radius, confirm, cap, owner, apart)
    assert list(zip(si.tolist(), sj.tolist(), strict=True)) == expected  # the shortcut, alike


def test_letterboxed_copy_matches_through_its_trimmed_hash(tmp_path):
    original = photo(5, (480, 320))
    boxed = Image.new("RGB", (480, 400), "black")
    boxed.paste(original, (0, 40))
    write_image(tmp_path / "site" / "photo.jpg", original)
    write_image(tmp_path / "site" / "boxed.jpg", boxed)
    db = tmp_path / "c.json"
    scan([tmp_path / "site"], open_store(db))
    (cluster,) = duplicate_clusters(open_store(db))
    assert cluster.to_dict()["distances"][1]["via"] == "trimmed"
    assert [i.height for i in cluster.images] == [400, 320]  # keeper: the larger file


def test_cluster_json_adds_keeper_tier_reach_and_distances():
    a, b = image("a", 0, size=300), image("b", 3, dhash=1, size=200)
    b["occurrences"] = [{"article": "/x.html", "position": 0, "file": None}]
    (cluster,) = near_clusters(records([b, a]), threshold=4)
    out = cluster.to_dict()
    assert out["kind"] == "near" and out["tier"] == 2 and out["keeper"] == "a"
    assert out["reach"] == {"articles": 1, "places": 3}
    assert out["distances"] == [
        {"sha256": "a", "phash": 0, "dhash": 0, "via": None},
        {"sha256": "b", "phash": 2, "dhash": 1, "via": None},
    ]
    assert [i["sha256"] for i in out["images"]] == ["a", "b"]


def centre(image: Image.Image, keep: float) -> Image.Image:
    """The central `keep` share of each side of `image`."""
    dx, dy = round(image.width * (1 - keep) / 2), round(image.height * (1 - keep) / 2)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def prints(*images: Image.Image, quality: int = 90) -> list[dict]:
    """Fingerprint dicts, as the catalogue stores them, of JPEG copies of `images`."""
    encoded = [encode(image, "JPEG", quality=quality) for image in images]
    return [fingerprint(data, sha256=str(n)).to_dict() for n, data in enumerate(encoded)]


@pytest.mark.parametrize("keep", [0.9, 0.8, 0.7])
def test_a_centre_crop_matches_through_a_central_region_view(keep):
    original = photo(6, (480, 320))
    whole, cropped = prints(original, centre(original, keep))
    own = [{**image, "variants": {}} for image in (whole, cropped)]
    assert near_pairs(records(own), DEFAULT_THRESHOLD) == {}  # the global hashes alone miss it
    pair = near_pairs(records([whole, cropped]), DEFAULT_THRESHOLD)[(0, 1)]
    assert pair["via"] == f"centre{round(keep * 100)}"


def test_a_quality_10_copy_matches_by_its_own_hashes():
    original = photo(5, (480, 320))
    (whole,), (q10,) = prints(original), prints(original, quality=10)
    assert near_pairs(records([whole, q10]), DEFAULT_THRESHOLD)[(0, 1)]["via"] is None


def test_a_copy_keeps_the_shape_of_its_frame():
    """Squashed into a square (16:9: 1.78) it is still the photo; a portrait and a landscape
    picture whose hashes agree are two (pHash squashes every picture square)."""
    original = photo(7, (480, 270))
    images = prints(original, original.resize((270, 270)), original.resize((190, 400)))
    assert set(near_pairs(records(images), DEFAULT_THRESHOLD, transforms=True)) == {(0, 1)}
    # a turned copy of the portrait: its turned view has the portrait's shape
    images += prints(original.resize((190, 400)).transpose(Image.Transpose.ROTATE_90))
    pairs = near_pairs(records(images), DEFAULT_THRESHOLD, transforms=True)
    assert set(pairs) == {(0, 1), (2, 3)}
    assert pairs[(2, 3)]["via"] in ("rot90", "rot270")
    # a catalogue made before shapes were recorded: the hashes alone decide
    older = [{k: v for k, v in i.items() if k != "turned"} for i in images[:3]]
    assert (0, 2) in near_pairs(records(older), DEFAULT_THRESHOLD)


def test_a_photo_turned_by_its_exif_tag_has_the_shape_of_its_upright_copy():
    original = photo(8, (480, 320))
    tags = Image.Exif()
    tags[0x0112] = 6  # orientation: turn it a quarter clockwise to show it upright
    tagged = encode(original, "JPEG", quality=90, exif=tags.tobytes())
    upright = encode(original.transpose(Image.Transpose.ROTATE_270), "JPEG", quality=90)
    images = [
        fingerprint(data, sha256=str(n)).to_dict() for n, data in enumerate([tagged, upright])
    ]
    assert [(i["width"], i["height"], i["turned"]) for i in images] == [
        (480, 320, True),
        (320, 480, False),
    ]
    assert near_pairs(records(images), DEFAULT_THRESHOLD)[(0, 1)]["via"] is None


def test_different_photos_stay_apart_in_every_view():
    originals = [photo(seed, (480, 320)) for seed in range(12)]
    images = prints(*originals, *(centre(o, 0.8) for o in originals))
    pairs = near_pairs(records(images), DEFAULT_THRESHOLD, transforms=True)
    assert {(a, b) for a, b in pairs if a % 12 != b % 12} == set()
    assert len(pairs) == 12  # each photo with its own crop


def hashed(name: str, phash: int, dhash: int, fine: int | None = None, **views: dict) -> dict:
    out = image(name, phash, dhash=dhash)
    out["variants"] = views
    if fine is not None:
        out["phash256"] = f"{fine:064x}"
    return out


def view(phash: int, dhash: int) -> dict:
    return {"phash": f"{phash:016x}", "dhash": f"{dhash:016x}"}


def test_a_loose_dhash_is_confirmed_by_the_256_bit_phash():
    ten = 2**10 - 1  # dHash 10 bits apart: more than DHASH_CONFIRM allows on its own
    assert near_pairs(records([hashed("a", 0, 0, 0), hashed("b", 1, ten, 2**40 - 1)]), 12) != {}
    assert near_pairs(records([hashed("a", 0, 0, 0), hashed("b", 1, ten, 2**60 - 1)]), 12) == {}
    # a catalogue made before the 256-bit pHash was recorded: dHash alone decides
    assert near_pairs(records([hashed("a", 0, 0), hashed("b", 1, ten, 2**40 - 1)]), 12) == {}
    assert near_pairs(records([hashed("a", 0, 0, 0), hashed("b", 1, 2**13 - 1, 0)]), 12) == {}


def test_a_near_equal_dhash_allows_a_third_more_phash_bits():
    fourteen = 2**14 - 1
    assert near_pairs(records([image("a", 0), image("b", fourteen, dhash=1)]), 12) != {}
    assert near_pairs(records([image("a", 0), image("b", 2**17 - 1, dhash=1)]), 12) == {}
    assert near_pairs(records([image("a", 0), image("b", 1, dhash=1)]), 0) == {}  # 0 stays 0
    assert near_pairs(records([image("a", 0), image("b", fourteen, dhash=2**3 - 1)]), 12) == {}


def test_derived_views_need_a_closer_dhash():
    far = 2**40 - 1  # the plain hashes are far apart: only the view can match
    close = hashed("b", far, far, centre90=view(0, 2**6 - 1))
    loose = hashed("b", far, far, centre90=view(0, 2**7 - 1))
    assert near_pairs(records([image("a", 0), close]), 12)[(0, 1)]["via"] == "centre90"
    assert near_pairs(records([image("a", 0), loose]), 12) == {}


def test_a_mirrored_view_is_not_compared_with_a_central_region():
    far = 2**40 - 1
    a = hashed("a", 0, 0, mirror=view(far, far))
    b = hashed("b", 2**50 - 1, 2**50 - 1, centre90=view(far, far))
    assert near_pairs(records([a, b]), 12, transforms=True) == {}


@given(st.data())
def test_the_searches_find_every_view_pair_the_rules_match(data):
    bases = data.draw(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=4))

    def code() -> int:  # a base code with a few bits flipped, as near copies' hashes are
        flips = data.draw(st.sets(st.integers(0, 63), max_size=16))
        return data.draw(st.sampled_from(bases)) ^ sum(1 << b for b in flips)

    images = []
    for n in range(data.draw(st.integers(2, 10))):
        names = data.draw(st.sets(st.sampled_from(VIEWS[1:])))
        fine = data.draw(st.sampled_from([None, 0, 2**40 - 1, 2**200 - 1]))
        images.append(
            hashed(str(n), code(), code(), fine, **{v: view(code(), code()) for v in names})
        )
    threshold, transforms = data.draw(st.integers(0, 16)), data.draw(st.booleans())
    table = ViewTable.of(records(images), transforms)
    i, j = np.triu_indices(len(table.owner), 1)
    every, _, _ = table._matches(i, j, threshold, 8)
    i, j = table._candidates(threshold, 8)
    found, _, _ = table._matches(i, j, threshold, 8)
    assert set(zip(i[found].tolist(), j[found].tolist(), strict=True)) == set(
        zip(*(a[every].tolist() for a in np.triu_indices(len(table.owner), 1)), strict=True)
    )


def test_pairs_of_whole_pictures_far_apart_in_the_fine_hash_are_unsure():
    near, far = "0" * 64, "f" * 3 + "8" + "0" * 60  # 13 bits apart
    close = "f" * 3 + "0" * 61  # 12 bits from `near`
    fine = [near, far, close, None]
    pairs = {
        (0, 1): {"phash": 2, "dhash": 6, "via": None},
        (0, 2): {"phash": 2, "dhash": 6, "via": None},
        (1, 2): {"phash": 2, "dhash": 6, "via": "mirror"},  # another view: not one frame
        (0, 3): {"phash": 2, "dhash": 6, "via": None},  # not recorded: the hashes decide
    }
    assert unsure_pairs(pairs, fine) == [(0, 1)]
