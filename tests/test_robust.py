"""Crop-, turn- and mirror-robust matching: real pictures drawn with Pillow, real OpenCV, the
real CLI on both stores; look-alikes (a stereo-like pair, two halves of one picture, two
different scenes) must never be verified."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from media_catalog import robust
from media_catalog.robust import FeatureCache, Features
from media_catalog.store import open_store

from .conftest import encode, write_image


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A picture full of corners (what keypoints are found on): shapes of random colours on
    a gradient, different for every seed."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(40, 200, size[0])[None, :, None] * rng.random(3)
    base = np.broadcast_to(ramp, (size[1], size[0], 3)).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(base), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(140):
        x, y = rng.integers(0, size[0]), rng.integers(0, size[1])
        w, h = rng.integers(8, 70), rng.integers(8, 70)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = rng.integers(3)
        if shape == 0:
            draw.rectangle((x, y, x + w, y + h), fill=colour)
        elif shape == 1:
            draw.ellipse((x, y, x + w, y + h), fill=colour)
        else:
            draw.polygon([(x, y), (x + w, y + h // 3), (x + w // 2, y + h)], fill=colour)
    noise = rng.normal(0, 3, (size[1], size[0], 3))
    pixels = np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def tiled(seed: int, period: int = 96) -> Image.Image:
    """A repeated pattern (a facade, a tiled floor): one scene of `period` px tiled, with
    noise of its own everywhere."""
    tile = np.asarray(scene(seed, (period, period)), dtype=np.float64)
    whole = np.tile(tile, (480 // period + 1, 640 // period + 1, 1))[:480, :640]
    noise = np.random.default_rng(seed).normal(0, 3, whole.shape)
    return Image.fromarray(np.clip(whole + noise, 0, 255).astype(np.uint8), "RGB")


def crop(image: Image.Image, keep: float, x: float, y: float) -> Image.Image:
    """The part `keep` of each side of `image`, placed at x, y (0: left/top, 1: right/bottom)."""
    w, h = round(image.width * keep), round(image.height * keep)
    left, top = round((image.width - w) * x), round((image.height - h) * y)
    return image.crop((left, top, left + w, top + h))


def turned(image: Image.Image, degrees: float) -> Image.Image:
    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))


def stereo(seed: int, shift: int) -> Image.Image:
    """One view of a scene with depth: a background, and a large object in front of it that
    moves `shift` px between views while the background moves a tenth of that."""
    background = scene(seed, (700, 480))
    thing = scene(seed + 1000, (300, 300))
    view = background.crop((shift // 10, 0, shift // 10 + 640, 480))
    view.paste(thing, (170 + shift, 90))
    return view


def check(a: Image.Image, b: Image.Image) -> robust.Verification | None:
    """Verify b against a, as `dupes --robust` does (its mirror too)."""
    grey_a, grey_b = (robust.picture(encode(image)) for image in (a, b))
    found_a, found_b = robust.features(grey_a), robust.features(grey_b)
    for mirrored in (False, True):
        result = robust.verify(grey_a, found_a, grey_b, found_b, mirrored)
        if result is not None:
            return result
    return None


@pytest.mark.parametrize(
    "copy",
    [
        pytest.param(lambda p: crop(p, 0.9, 0.5, 0.5), id="centred-90"),
        pytest.param(lambda p: crop(p, 0.7, 0.5, 0.5), id="centred-70"),
        pytest.param(lambda p: crop(p, 0.7, 0.1, 0.9), id="off-centre-70"),
        pytest.param(lambda p: crop(p, 0.6, 1.0, 0.0), id="off-centre-60"),
        pytest.param(lambda p: turned(p, 3), id="turned-3"),
        pytest.param(lambda p: turned(p, -10), id="turned-10"),
        pytest.param(lambda p: p.transpose(Image.Transpose.ROTATE_90), id="quarter-turn"),
        pytest.param(lambda p: ImageOps.expand(p, 60, fill="white"), id="padded"),
        pytest.param(lambda p: p.resize((320, 240)), id="half-size"),
    ],
)
def test_a_crop_turn_or_padded_copy_is_verified(copy):
    found = check(scene(1), copy(scene(1)))
    assert found is not None and not found.mirrored
    assert found.agreeing >= robust.AGREEING and found.cells >= robust.MIN_CELLS


def test_a_turned_copy_of_a_finely_grained_picture_is_verified_over_many_cells():
    """A 10-degree turn resamples fine grain and loses a few % of its cells: over MANY_CELLS
    cells or more AGREEING_MANY suffice (look-alikes that large agree in far fewer)."""
    grain = np.random.default_rng(4).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    grained = Image.fromarray(grain, "RGB").filter(ImageFilter.GaussianBlur(1.0))
    original = Image.blend(scene(4), grained, 0.5)
    found = check(original, turned(original, 10))
    assert found is not None and found.cells >= robust.MANY_CELLS
    assert robust.AGREEING_MANY <= found.agreeing < robust.AGREEING


@pytest.mark.parametrize("seed", [2, 4])
def test_cells_along_the_edge_of_an_enlarged_crop_agree(seed):
    """The copy's edge falls between pixels of the original: the cells it crosses are
    compared with the copy's own edge pixels, not with black from outside it."""
    grain = np.random.default_rng(seed).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    grained = Image.fromarray(grain, "RGB").filter(ImageFilter.GaussianBlur(1.2))
    original = Image.blend(scene(seed), grained, 0.5)
    found = check(original, original.resize((800, 600)).crop((100, 50, 700, 550)))
    assert found is not None and found.cells > 300 and found.agreeing >= 0.99


@pytest.mark.parametrize("mirror", [False, True])
def test_a_verification_taken_the_other_way_round_is_its_reverse(mirror):
    original = scene(19)
    copy = turned(crop(original, 0.8, 0.3, 0.3), 10)
    copy = ImageOps.mirror(copy) if mirror else copy
    one, other = check(original, copy), check(copy, original)
    assert one is not None and other is not None and one.mirrored is other.mirrored is mirror
    assert one.reversed().rotation == pytest.approx(other.rotation, abs=1)
    assert abs(one.rotation) == pytest.approx(10, abs=1)


def test_a_mirrored_crop_is_verified_as_mirrored():
    found = check(scene(2), ImageOps.mirror(crop(scene(2), 0.75, 0.2, 0.6)))
    assert found is not None and found.mirrored
    assert abs(found.rotation) < 1 and found.overlap > 0.95
    assert found.coverage == pytest.approx(0.75**2, abs=0.05)


@pytest.mark.parametrize(
    "a, b",
    [
        pytest.param(lambda: scene(3), lambda: scene(4), id="two-scenes"),
        pytest.param(lambda: stereo(5, 0), lambda: stereo(5, 40), id="stereo-like"),
        pytest.param(
            lambda: crop(scene(6), 0.5, 0, 0), lambda: crop(scene(6), 0.5, 1, 0), id="halves"
        ),
        pytest.param(
            lambda: crop(tiled(7), 0.5, 0, 0), lambda: crop(tiled(7), 0.6, 1, 1), id="tiled"
        ),
    ],
)
def test_look_alikes_are_never_verified(a, b):
    assert check(a(), b()) is None


def test_candidates_include_the_copies_and_are_few_per_image(monkeypatch):
    monkeypatch.setattr(robust, "PER_IMAGE", 2)
    pictures = [scene(7), crop(scene(7), 0.65, 0.9, 0.1), ImageOps.mirror(scene(7))]
    pictures += [scene(seed) for seed in range(20, 26)]
    found = [robust.features(robust.picture(encode(p))) for p in pictures]
    wanted = robust.candidates(found, found)
    assert {(0, 1, False), (0, 2, True)} <= {(min(a, b), max(a, b), m) for a, b, m in wanted}
    for query in range(len(found)):
        for mirrored in (False, True):
            assert len({b for a, b, m in wanted if a == query and m == mirrored}) <= 2


def test_a_search_in_blocks_finds_the_pairs_across_blocks(monkeypatch):
    pictures = [scene(8), scene(30), crop(scene(8), 0.7, 0.1, 0.9), ImageOps.mirror(scene(8))]
    found = [robust.features(robust.picture(encode(p))) for p in pictures]
    whole = robust.candidates(found, found)
    monkeypatch.setattr(robust, "BLOCK", 1)  # each image indexed on its own
    alone = robust.candidates(found, found)
    pairs = {(min(a, b), max(a, b), m) for a, b, m in alone}
    assert {(0, 2, False), (0, 3, True), (2, 3, True)} <= pairs
    assert pairs == {(min(a, b), max(a, b), m) for a, b, m in whole}
    assert {(0, 1, False), (0, 2, True)} <= robust.candidates(found[1:], found[:1])
    monkeypatch.setattr(robust, "ASKED", 1)  # each image queries in a worker of its own
    assert robust.candidates(found, found, workers=2) == alone


def test_verification_in_forked_workers_confirms_the_same(monkeypatch):
    pictures = [scene(8), crop(scene(8), 0.7, 0.1, 0.9), ImageOps.mirror(scene(8)), scene(31)]
    greys = [robust.picture(encode(p)) for p in pictures]
    found = [robust.features(grey) for grey in greys]
    wanted = {(0, 1, False), (0, 2, True), (0, 3, False), (1, 2, True), (1, 3, False)}
    alone = robust.verified(found, wanted, greys.__getitem__, workers=1)
    assert set(alone) == {(0, 1), (0, 2), (1, 2)}
    monkeypatch.setattr(robust, "VERIFIED_AT_ONCE", 1)  # one image's pairs a task
    forked = robust.verified(found, wanted, greys.__getitem__, workers=2)
    assert {k: v.to_dict() for k, v in forked.items()} == {k: v.to_dict() for k, v in alone.items()}


@st.composite
def keypoint_sets(draw: st.DrawFn) -> Features:
    """Features of any size, with descriptors drawn from a few values (so they collide)."""
    n = draw(st.integers(0, 40))
    m = draw(st.integers(0, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.integers(0, 256, (3, 32), dtype=np.uint8)

    def points(count: int) -> np.ndarray:
        return (rng.random((count, 2)) * 300).astype(np.float32)

    def descriptors(count: int) -> np.ndarray:
        return values[rng.integers(0, 3, count)]

    def angles(count: int) -> np.ndarray:
        return rng.integers(0, 256, count, dtype=np.uint8)

    return Features(
        300, 200, points(n), descriptors(n), angles(n), points(m), descriptors(m), angles(m)
    )


@given(st.lists(keypoint_sets(), max_size=6), st.integers(1, 7))
def test_candidates_of_any_keypoints_never_fail(found, block):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(robust, "BLOCK", block)
        wanted = robust.candidates(found, found)
    assert all(a != b and 0 <= a < len(found) and 0 <= b < len(found) for a, b, _ in wanted)


def test_features_round_trip_and_other_records_are_refused():
    found = robust.features(robust.picture(encode(scene(9))))
    again = Features.from_bytes(found.to_bytes())
    assert again is not None and again.to_bytes() == found.to_bytes()
    assert (again.width, again.height) == (512, 384)
    assert Features.from_bytes(found.to_bytes()[:-1]) is None


@given(st.binary(max_size=200))
def test_any_cached_record_is_read_or_refused(blob):
    found = Features.from_bytes(blob)
    assert found is None or found.to_bytes() == blob


def test_a_cache_that_cannot_be_written_only_costs_time(tmp_path):
    (tmp_path / "taken").write_text("a file where the cache folder would be")
    cache = FeatureCache(tmp_path / "taken" / "features.sqlite")
    found = robust.features(robust.picture(encode(scene(10))))
    cache.put({"a" * 64: found})
    assert cache.get(["a" * 64]) == {}


def test_catalogue_features_are_read_from_the_cache_when_asked_for(cli, desk):
    cli("scan", desk)
    shas = _shas(cli)
    folder = Path(f"{cli.db}.cache")
    catalog = open_store(cli.db)
    found, counts = robust.catalogue_features(catalog, shas, folder, workers=1)
    assert counts == {"cached": 0, "found": 5, "unavailable": 0, "pruned": 0}
    cache = FeatureCache(folder / "features.sqlite")
    cached = cache.get(shas)
    assert len(found) == 5 and len(cached) == 5
    with pytest.raises(IndexError):
        found[-6]
    assert [f.to_bytes() for f in found[1:3]] == [cached[s].to_bytes() for s in shas[1:3]]
    assert found[-1].to_bytes() == cached[shas[-1]].to_bytes()
    with sqlite3.connect(folder / "features.sqlite") as db:  # a row cut short is found again
        db.execute("UPDATE features SET data = substr(data, 1, 100) WHERE sha256 = ?", shas[:1])
    _, counts = robust.catalogue_features(catalog, shas, folder, workers=1)
    assert counts == {"cached": 4, "found": 1, "unavailable": 0, "pruned": 0}


def test_features_the_cache_cannot_keep_are_held(cli, desk, tmp_path):
    cli("scan", desk)
    (tmp_path / "taken").write_text("a file where the cache folder would be")
    catalog = open_store(cli.db)
    found, counts = robust.catalogue_features(catalog, _shas(cli), tmp_path / "taken", 1)
    assert counts["found"] == 5 and all(item is not None for item in found)


def test_a_picture_too_large_to_decode_safely_is_refused(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(robust.FingerprintError, match="too large"):
        robust.picture(encode(scene(11)))


@pytest.fixture
def desk(tmp_path: Path) -> Path:
    """Photos as a desk keeps them: an original, its off-centre crop, a turned mirror of it,
    a copy turned 10 degrees, and an unrelated photo."""
    folder = tmp_path / "desk"
    write_image(folder / "original.jpg", scene(12), quality=92)
    write_image(folder / "crop.jpg", crop(scene(12), 0.6, 0.95, 0.3))
    write_image(folder / "flipped.jpg", ImageOps.mirror(turned(scene(12), 5)))
    write_image(folder / "tilted.jpg", turned(scene(12), -10))
    write_image(folder / "other.jpg", scene(13))
    return folder


def _names(cluster: dict) -> list[str]:
    return sorted(Path(image["files"][0]).name for image in cluster["images"])


def test_dupes_robust_finds_crops_turns_and_mirrors_and_caches_features(cli, desk):
    assert cli("scan", desk).exit_code == 0
    plain = json.loads(cli("dupes", "-f", "json").stdout)
    assert not plain["clusters"]  # whole-image hashes see none of these copies
    result = cli("dupes", "--robust", "-f", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (cluster,) = report["clusters"]
    assert _names(cluster) == ["crop.jpg", "flipped.jpg", "original.jpg", "tilted.jpg"]
    names = [Path(image["files"][0]).name for image in cluster["images"]]
    keeper, *copies = cluster["distances"]
    assert keeper["via"] is None
    for name, distance in zip(names[1:], copies, strict=True):
        flipped = (name == "flipped.jpg") != (names[0] == "flipped.jpg")
        assert distance["via"] == ("robust+mirror" if flipped else "robust")
        assert distance["verification"]["agreeing"] >= robust.AGREEING
    assert report["robust"]["features"] == {
        "cached": 0,
        "found": 5,
        "unavailable": 0,
        "pruned": 0,
    }
    cache = Path(f"{cli.db}.cache") / "features.sqlite"
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT count(*) FROM features").fetchone() == (5,)
    again = json.loads(cli("dupes", "--robust", "-f", "json").stdout)
    assert again["robust"]["features"] == {
        "cached": 5,
        "found": 0,
        "unavailable": 0,
        "pruned": 0,
    }
    assert again["clusters"] == report["clusters"]
    table = cli("dupes", "--robust")
    assert "robust+mirror" in table.stdout and "crop.jpg" in table.stdout
    assert "robust" not in cli("dupes", "-f", "json").stdout  # only when asked


def test_the_features_of_images_no_longer_catalogued_are_deleted(cli, desk):
    cli("scan", desk)
    cli("dupes", "--robust")
    (desk / "tilted.jpg").unlink()
    cli("scan", desk, "--prune")  # the catalogue forgets the image
    cache = Path(f"{cli.db}.cache") / "features.sqlite"
    report = json.loads(cli("dupes", "--robust", "-f", "json").stdout)
    assert report["robust"]["features"]["pruned"] == 0  # another run may be using them
    with sqlite3.connect(cache) as db:
        db.execute("UPDATE features SET written = written - ?", (robust.KEPT_UNKNOWN + 60,))
    report = json.loads(cli("dupes", "--robust", "-f", "json").stdout)
    assert report["robust"]["features"] == {
        "cached": 4,
        "found": 0,
        "unavailable": 0,
        "pruned": 1,
    }
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT count(*) FROM features").fetchone() == (4,)


def test_a_cache_written_before_its_rows_were_dated_is_read_and_pruned(cli, desk):
    cli("scan", desk)
    cache = Path(f"{cli.db}.cache") / "features.sqlite"
    cache.parent.mkdir()
    with sqlite3.connect(cache) as db:
        db.execute("CREATE TABLE features (sha256 TEXT PRIMARY KEY, data BLOB)")
        db.execute("INSERT INTO features VALUES ('0' || hex(randomblob(31)), x'00')")
    report = json.loads(cli("dupes", "--robust", "-f", "json").stdout)
    assert report["robust"]["features"]["pruned"] == 1
    assert report["robust"]["features"]["found"] == 5


def test_dupes_robust_goes_on_when_an_image_file_is_gone(cli, desk):
    cli("scan", desk)
    (desk / "tilted.jpg").unlink()
    report = json.loads(cli("dupes", "--robust", "-f", "json").stdout)
    assert report["robust"]["features"]["unavailable"] == 1
    (cluster,) = report["clusters"]
    assert _names(cluster) == ["crop.jpg", "flipped.jpg", "original.jpg"]


def test_lookup_robust_says_where_else_a_crop_was_used(cli, desk, tmp_path):
    cli("scan", desk)
    probe = write_image(tmp_path / "probe.jpg", crop(scene(12), 0.5, 0.1, 0.8))
    assert json.loads(cli("lookup", "--image", probe, "-f", "json").stdout)["matches"] == []
    result = cli("lookup", "--image", probe, "--robust", "-f", "json")
    assert result.exit_code == 0, result.output
    matches = json.loads(result.stdout)["matches"]
    found = {Path(m["image"]["files"][0]).name: m for m in matches}
    assert {"original.jpg", "tilted.jpg", "flipped.jpg"} <= set(found)
    assert "other.jpg" not in found
    assert found["flipped.jpg"]["view"] == "robust+mirror"
    assert found["original.jpg"]["verification"]["coverage"] == pytest.approx(0.25, abs=0.05)


@pytest.fixture
def reposted(tmp_path: Path) -> Path:
    """One photo saved 20 times with the same pixels and other bytes (each site's own
    comment): every one of its keypoints 20 times over, more than a bucket of the index
    keeps; a crop of it; another photo."""
    folder = tmp_path / "reposted"
    for number in range(20):
        write_image(folder / f"copy{number:02}.jpg", scene(15), comment=b"site %d" % number)
    write_image(folder / "crop.jpg", crop(scene(15), 0.6, 0.9, 0.2))
    write_image(folder / "other.jpg", scene(16))
    return folder


def test_a_crop_of_a_photo_reposted_many_times_joins_its_copies(cli, reposted):
    cli("scan", reposted)
    (cluster,) = json.loads(cli("dupes", "--robust", "-f", "json").stdout)["clusters"]
    assert _names(cluster) == [*(f"copy{n:02}.jpg" for n in range(20)), "crop.jpg"]
    names = [Path(image["files"][0]).name for image in cluster["images"]]
    crop_distance = cluster["distances"][names.index("crop.jpg")]
    assert crop_distance["via"] == "robust"  # verified against the keeper itself
    result = cli("lookup", "--image", reposted / "crop.jpg", "--robust", "-f", "json")
    matches = [m for m in json.loads(result.stdout)["matches"] if m["view"] == "robust"]
    assert {Path(m["image"]["files"][0]).name for m in matches} == {
        f"copy{n:02}.jpg" for n in range(20)
    }
    # one copy was compared with the file; the others carry its figures, and say so
    (compared,) = [m for m in matches if "through" not in m["verification"]]
    assert {tuple(m["verification"].pop("through")) for m in matches if m is not compared} == {
        (compared["image"]["sha256"],)
    }
    assert all(m["verification"] == compared["verification"] for m in matches)


def gone(path: Path, how: str) -> None:
    """The file no longer holds the bytes catalogued: deleted, or overwritten by another."""
    if how == "deleted":
        path.unlink()
    else:
        write_image(path, scene(30))


@pytest.mark.parametrize("how", ["deleted", "overwritten"])
def test_lookup_robust_finds_a_photo_through_whichever_copy_is_searched(cli, tmp_path, how):
    """The smaller copy is the catalogue's first image, and not searched; then the larger,
    which is searched, is gone (its copy stands for it, and it is still a copy)."""
    folder = tmp_path / "copies"
    write_image(folder / "a_small.jpg", scene(17).resize((480, 360)))
    write_image(folder / "b_big.jpg", scene(17))
    write_image(folder / "c_other.jpg", scene(18))
    probe = write_image(tmp_path / "probe.jpg", crop(scene(17), 0.5, 0.1, 0.8))
    cli("scan", folder)

    def robust_matches() -> set[str]:
        result = cli("lookup", "--image", probe, "--robust", "-f", "json")
        matches = json.loads(result.stdout)["matches"]
        return {Path(m["image"]["files"][0]).name for m in matches if m["view"] == "robust"}

    assert robust_matches() == {"a_small.jpg", "b_big.jpg"}
    gone(folder / "b_big.jpg", how)
    assert robust_matches() == {"a_small.jpg", "b_big.jpg"}


@pytest.mark.parametrize("how", ["deleted", "overwritten"])
def test_dupes_robust_verifies_a_crop_through_a_copy_when_the_keeper_is_gone(cli, tmp_path, how):
    folder = tmp_path / "copies"
    write_image(folder / "a_small.jpg", scene(17).resize((480, 360)))
    write_image(folder / "b_big.jpg", scene(17))
    write_image(folder / "c_crop.jpg", crop(scene(17), 0.5, 0.1, 0.8))
    cli("scan", folder)
    cli("dupes", "--robust")  # the keeper's keypoints are cached
    gone(folder / "b_big.jpg", how)
    (cluster,) = json.loads(cli("dupes", "--robust", "-f", "json").stdout)["clusters"]
    _, small, cropped = cluster["images"]
    assert [Path(i["files"][0]).name for i in cluster["images"]] == [
        "b_big.jpg",
        "a_small.jpg",
        "c_crop.jpg",
    ]
    verification = cluster["distances"][2]["verification"]
    assert set(verification.pop("through")) == {small["sha256"], cropped["sha256"]}


@pytest.mark.parametrize(
    "args, message",
    [
        (["lookup", "c0371bec1be51267", "--robust"], "--robust needs --image FILE"),
        (["dupes", "--robust", "--reference", "."], "--robust does not combine with --reference"),
    ],
)
def test_robust_options_that_do_not_fit_are_explained(cli, desk, args, message):
    cli("scan", desk)
    result = cli(*args)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output


def test_a_picture_without_keypoints_keeps_its_mirror_match_by_hashes(cli, tmp_path):
    y, x = np.mgrid[0:300, 0:400]
    glow = 255 * np.exp(-((x - 120) ** 2 + (y - 150) ** 2) / 3000)
    glow += 120 * np.exp(-((x - 300) ** 2 + (y - 80) ** 2) / 5000)
    picture = Image.fromarray(np.clip(glow, 0, 255).astype(np.uint8), "L").convert("RGB")
    write_image(tmp_path / "soft" / "glow.jpg", picture)
    write_image(tmp_path / "soft" / "flipped.jpg", ImageOps.mirror(picture))
    cli("scan", tmp_path / "soft")
    assert len(json.loads(cli("dupes", "--transforms", "-f", "json").stdout)["clusters"]) == 1
    report = json.loads(cli("dupes", "--robust", "-f", "json").stdout)
    (cluster,) = report["clusters"]  # no keypoints to check it by: the hashes decide
    assert cluster["distances"][1]["via"] == "mirror" and report["robust"]["verified"] == 0


def symmetric(seed: int) -> Image.Image:
    """A picture that is its own mirror but for noise: its mirror view's hashes are as close
    as its own (the review's case: that view must not hide the plain match)."""
    rng = np.random.default_rng(seed)
    half = np.asarray(scene(seed, (320, 480)), dtype=np.float64)
    full = np.concatenate([half, half[:, ::-1]], axis=1) + rng.normal(0, 6, (480, 640, 3))
    return Image.fromarray(np.clip(full, 0, 255).astype(np.uint8), "RGB")


def test_robust_keeps_every_pair_the_plain_commands_report(cli, tmp_path):
    folder = tmp_path / "mirrored-halves"
    write_image(folder / "s125.jpg", symmetric(125), quality=90)
    thumb = symmetric(125).resize((120, 90), Image.Resampling.LANCZOS)
    write_image(folder / "s125_120.jpg", thumb, quality=30)
    cli("scan", folder)
    probe = write_image(tmp_path / "probe.jpg", thumb, quality=30)
    plain = json.loads(cli("dupes", "-f", "json").stdout)["clusters"]
    robust_ = json.loads(cli("dupes", "--robust", "-f", "json").stdout)["clusters"]
    assert (
        [_names(c) for c in plain] == [_names(c) for c in robust_] == [["s125.jpg", "s125_120.jpg"]]
    )
    looked = json.loads(cli("lookup", "--image", probe, "-f", "json").stdout)["matches"]
    again = json.loads(cli("lookup", "--image", probe, "--robust", "-f", "json").stdout)
    assert {m["image"]["sha256"] for m in looked} <= {
        m["image"]["sha256"] for m in again["matches"]
    }


def look_alike(seed: int) -> Image.Image:
    """The same large soft shapes every time (what the hashes see), with fine detail of
    its own for every seed (what the keypoints and the cells see)."""
    rng = np.random.default_rng(7)
    rows, columns = np.ogrid[:480, :640]
    base = np.zeros((480, 640, 3))
    for _ in range(12):
        y, x, r = rng.integers(0, 480), rng.integers(0, 640), rng.integers(60, 160)
        blob = np.exp(-((rows - y) ** 2 + (columns - x) ** 2) / (2 * r * r))
        base += blob[..., None] * rng.integers(40, 120, 3)
    detail = np.random.default_rng(seed).normal(0, 30, (480, 640, 1))
    pixels = np.clip(base + 40 + detail, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB").filter(ImageFilter.GaussianBlur(1))


@pytest.fixture
def alike(cli, tmp_path: Path) -> Path:
    """A catalogue of a look-alike pair the hashes match (a.jpg, b.jpg) and a copy of a."""
    folder = tmp_path / "alike"
    write_image(folder / "a.jpg", look_alike(1), quality=90)
    write_image(folder / "b.jpg", look_alike(2), quality=90)
    write_image(folder / "a_small.jpg", look_alike(1).resize((480, 360)), quality=60)
    cli("scan", folder)
    return folder


def test_dupes_checks_pixels_where_the_finest_hash_is_not_sure(cli, alike):
    hashes = json.loads(cli("lookup", "--image", alike / "b.jpg", "-f", "json").stdout)
    assert {Path(m["image"]["files"][0]).name for m in hashes["matches"]} >= {"a.jpg"}
    plain = json.loads(cli("dupes", "-f", "json").stdout)
    assert [_names(c) for c in plain["clusters"]] == [["a.jpg", "a_small.jpg"]]
    assert plain["checked"] == {
        "compared": 3,
        "refuted": 2,
        "unchecked": 0,
        "turned": 0,
        "confirmed": 0,
        "unconfirmed": 0,
    }
    table = cli("dupes")
    assert "a_small.jpg" in table.stdout and "b.jpg" not in table.stdout
    assert "2 pairs the hashes matched were left out" in table.stderr


def test_dupes_lets_the_hashes_decide_when_the_pictures_are_gone(cli, alike):
    (alike / "b.jpg").unlink()
    plain = json.loads(cli("dupes", "-f", "json").stdout)
    assert [_names(c) for c in plain["clusters"]] == [["a.jpg", "a_small.jpg", "b.jpg"]]
    assert plain["checked"] == {
        "compared": 1,
        "refuted": 0,
        "unchecked": 2,
        "turned": 0,
        "confirmed": 0,
        "unconfirmed": 0,
    }
    assert "2 pairs could not be checked against their pictures" in cli("dupes").stderr


def test_robust_refutes_a_look_alike_the_hashes_pair_and_verifies_a_copy(cli, alike):
    report = json.loads(cli("dupes", "--robust", "-f", "json").stdout)
    assert [_names(c) for c in report["clusters"]] == [["a.jpg", "a_small.jpg"]]
    assert report["robust"]["refuted"] == 2 and report["robust"]["verified"] == 0
    (copy,) = report["clusters"][0]["distances"][1:]
    assert copy["via"] is None and copy["verification"]["agreeing"] >= robust.AGREEING_HASHED


@pytest.fixture
def turned_desk(cli, tmp_path: Path) -> Path:
    """A catalogue of a picture, its copy turned a quarter, and a look-alike mirrored (the
    hashes match each of the two only through a turned or mirrored view)."""
    folder = tmp_path / "turned"
    write_image(folder / "a.jpg", look_alike(1), quality=90)
    quarter = look_alike(1).transpose(Image.Transpose.ROTATE_90).resize((270, 360))
    write_image(folder / "a_turned.jpg", quarter, quality=70)
    write_image(folder / "b_mirrored.jpg", ImageOps.mirror(look_alike(2)), quality=90)
    cli("scan", folder)
    return folder


@pytest.mark.parametrize("options", [(), ("--transforms",)], ids=["default", "transforms"])
def test_dupes_keeps_a_turned_copy_its_pixels_confirm_and_no_turned_look_alike(
    cli, turned_desk, options
):
    report = json.loads(cli("dupes", "-f", "json", *options).stdout)
    assert [_names(c) for c in report["clusters"]] == [["a.jpg", "a_turned.jpg"]]
    copy = report["clusters"][0]["distances"][1]
    assert copy["via"] in ("rot90", "rot270") and abs(copy["verification"]["rotation"]) == 90
    assert copy["verification"]["agreeing"] >= robust.AGREEING
    checked = report["checked"]
    assert checked == {
        "compared": 2,
        "refuted": 1,
        "unchecked": 0,
        "turned": 2,
        "confirmed": 1,
        "unconfirmed": 0,
    }


def test_robust_keeps_the_turned_copy_and_leaves_out_the_turned_look_alike(cli, turned_desk):
    report = json.loads(cli("dupes", "--robust", "-f", "json").stdout)
    assert [_names(c) for c in report["clusters"]] == [["a.jpg", "a_turned.jpg"]]


def test_an_unchecked_turned_pair_is_left_out_by_default_and_kept_by_transforms(cli, turned_desk):
    (turned_desk / "a_turned.jpg").unlink()
    plain = cli("dupes", "-f", "json")
    assert json.loads(plain.stdout)["clusters"] == []
    assert json.loads(plain.stdout)["checked"]["unchecked"] == 1
    assert "1 pair could not be checked" in cli("dupes").stderr
    kept = json.loads(cli("dupes", "--transforms", "-f", "json").stdout)
    assert [_names(c) for c in kept["clusters"]] == [["a.jpg", "a_turned.jpg"]]
    assert "verification" not in kept["clusters"][0]["distances"][1]


def test_robust_confirms_a_mirrored_copy_by_its_frames(cli, tmp_path):
    folder = tmp_path / "mirrored"
    write_image(folder / "a.jpg", scene(31), quality=90)
    write_image(folder / "a_mirrored.jpg", ImageOps.mirror(scene(31)), quality=75)
    cli("scan", folder)
    report = json.loads(cli("dupes", "--robust", "-f", "json").stdout)
    (cluster,) = report["clusters"]
    copy = cluster["distances"][1]  # the frames agree: no keypoints needed
    assert copy["via"] == "mirror" and copy["verification"]["mirrored"] is True
    assert copy["verification"]["inliers"] == 0 and copy["verification"]["agreeing"] >= 0.95


def waves(seed: int, mirrored: bool, degrees: float, phase: float) -> Image.Image:
    """Soft blotches (mirrored when `mirrored`) under fine waves at `degrees`: few keypoints,
    and hashes that see the blotches only."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray((rng.random((4, 5)) * 200 + 28).astype(np.uint8))
    blotches = np.asarray(coarse.resize((640, 480), Image.Resampling.BICUBIC), np.float64)
    y, x = np.mgrid[0:480, 0:640]
    turn = np.deg2rad(degrees)
    wave = 6 * np.sin(2 * np.pi * (x * np.cos(turn) + y * np.sin(turn)) / 24 + phase)
    pixels = (blotches[:, ::-1] if mirrored else blotches) + wave
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).convert("RGB")


@pytest.mark.parametrize("options", [(), ("--transforms",), ("--robust",)])
def test_a_turned_look_alike_without_keypoints_is_refuted_by_its_frames(cli, tmp_path, options):
    folder = tmp_path / "waves"
    write_image(folder / "a.jpg", waves(7, False, 45, 0), quality=92)
    write_image(folder / "b.jpg", waves(7, True, 135, 1.3), quality=92)
    cli("scan", folder)
    report = json.loads(cli("dupes", "-f", "json", *options).stdout)
    assert report["clusters"] == []
    refuted = (
        report["robust"]["refuted"] if options == ("--robust",) else report["checked"]["refuted"]
    )
    assert refuted == 1


def test_many_copies_of_a_photo_and_its_mirror_are_compared_once(cli, tmp_path):
    """36 pairs between 6 copies and 6 mirrored copies: the pairs between two groups of
    copies (here the mirrored ones make two: some of their pairs match through a trimmed
    view, which does not group them) are judged by their closest pair."""
    folder = tmp_path / "reposted"
    for quality in (95, 90, 85, 80, 75, 70):
        write_image(folder / f"a{quality}.jpg", scene(43), quality=quality)
        write_image(folder / f"m{quality}.jpg", ImageOps.mirror(scene(43)), quality=quality)
    cli("scan", folder)
    report = json.loads(cli("dupes", "-f", "json").stdout)
    assert [len(c["images"]) for c in report["clusters"]] == [12]
    checked = report["checked"]
    assert checked["turned"] == checked["confirmed"] == 36 and checked["compared"] <= 2


def test_a_turned_pair_is_judged_with_the_copies_of_its_own_photo_only(cli, tmp_path):
    """A letterboxed copy of x pairs with y, its look-alike, through a trimmed view: that
    pair must not make y's group judge x's mirror."""
    folder = tmp_path / "groups"
    write_image(folder / "y_big.jpg", look_alike(2).resize((800, 600)), quality=90)
    write_image(folder / "x.jpg", look_alike(1), quality=90)
    boxed = ImageOps.expand(look_alike(1), (0, 80), fill="black")
    write_image(folder / "x_letterboxed.jpg", boxed, quality=90)
    write_image(folder / "x_mirrored.jpg", ImageOps.mirror(look_alike(1)), quality=85)
    cli("scan", folder)
    for options in ((), ("--robust",)):
        report = json.loads(cli("dupes", "-f", "json", *options).stdout)
        assert ["x.jpg", "x_mirrored.jpg"] in [_names(c) for c in report["clusters"]]


def test_pairs_whose_pictures_are_gone_do_not_use_up_the_tries(cli, tmp_path):
    folder = tmp_path / "gone"
    for quality in (95, 90, 85):
        write_image(folder / f"gone{quality}.jpg", scene(43), quality=quality)
    write_image(folder / "kept_large.jpg", scene(43).resize((800, 600)), quality=40)
    write_image(folder / "mirrored.jpg", ImageOps.mirror(scene(43)), quality=95)
    cli("scan", folder)
    for gone in folder.glob("gone*.jpg"):
        gone.unlink()
    report = json.loads(cli("dupes", "-f", "json").stdout)
    assert "mirrored.jpg" in _names(report["clusters"][0])
    assert (report["checked"]["confirmed"], report["checked"]["unchecked"]) == (1, 3)


@pytest.mark.parametrize(
    ("turn", "size", "degrees"),
    [(Image.Transpose.ROTATE_90, (360, 480), 90), (Image.Transpose.ROTATE_180, (480, 360), 180)],
    ids=["quarter", "half"],
)
def test_a_turned_copy_reports_its_turn_onto_the_keeper_in_either_order(
    cli, tmp_path, turn, size, degrees
):
    """Whether the copy is scanned before its keeper or after, `rotation` takes it onto
    the keeper."""
    copy = scene(47).transpose(turn).resize(size)
    turns = []
    for name in ("a-turned.jpg", "z-turned.jpg"):
        folder = tmp_path / name
        write_image(folder / "m-keeper.jpg", scene(47), quality=95)
        write_image(folder / name, copy, quality=80)
        cli("scan", folder, "--db", folder / "c.json")
        (cluster,) = json.loads(cli("dupes", "--db", folder / "c.json", "-f", "json").stdout)[
            "clusters"
        ]
        assert Path(cluster["images"][0]["files"][0]).name == "m-keeper.jpg"
        turns.append(cluster["distances"][1]["verification"]["rotation"])
    assert turns[0] == turns[1] and abs(turns[0]) == degrees


def test_without_opencv_dupes_leaves_out_the_turned_pairs_it_cannot_check(cli, turned_desk):
    """OpenCV missing (its import fails, in a fresh process): no turned pair is reported,
    and standard error says what to install."""
    import subprocess
    import sys

    without = "import sys; sys.modules['cv2'] = None; from media_catalog.cli import main; main()"

    def dupes(*options: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-c", without, "dupes", *options]
        return subprocess.run(command, capture_output=True, text=True, check=True)

    report = json.loads(dupes("-f", "json").stdout)
    assert report["clusters"] == []
    assert (report["checked"]["unchecked"], report["checked"]["turned"]) == (2, 2)
    assert "pip install 'media-catalog[robust]'" in dupes().stderr
    kept = json.loads(dupes("--transforms", "-f", "json").stdout)
    assert len(kept["clusters"]) == 1 and len(kept["clusters"][0]["images"]) == 3


@pytest.mark.parametrize(
    ("copy", "refuted"),
    [
        pytest.param(lambda: look_alike(1), False, id="the same picture"),
        pytest.param(lambda: look_alike(1).resize((320, 240)), False, id="a thumbnail"),
        pytest.param(lambda: look_alike(2), True, id="a look-alike"),
    ],
)
def test_one_frame_compared_refutes_only_a_look_alike(copy, refuted):
    original = robust.picture(encode(look_alike(1)))
    compared = robust.compare_frame(original, robust.picture(encode(copy(), quality=10)))
    assert compared is not None and compared.cells >= robust.MIN_CELLS
    assert robust.refutes(compared) is refuted


def test_dupes_robust_searched_in_small_blocks_by_two_workers_finds_the_same(
    cli, desk, monkeypatch
):
    cli("scan", desk)
    whole = json.loads(cli("dupes", "--robust", "-f", "json").stdout)
    monkeypatch.setattr(robust, "BLOCK", 2)
    monkeypatch.setattr(robust, "ASKED", 1)  # forked workers read the features cache
    blocks = json.loads(cli("dupes", "--robust", "-f", "json").stdout)
    assert [_names(c) for c in blocks["clusters"]] == [_names(c) for c in whole["clusters"]]
    assert blocks["robust"]["features"]["cached"] == 5


def text_page(seed: int) -> Image.Image:
    """A screenshot of text: black words on a white page (its background touches every
    corner, and is content, not fill)."""
    rng = np.random.default_rng(seed)
    words = [
        "the",
        "of",
        "and",
        "to",
        "in",
        "is",
        "that",
        "for",
        "it",
        "as",
        "was",
        "with",
        "be",
        "by",
        "on",
        "not",
        "this",
        "are",
        "or",
        "from",
    ]
    page = Image.new("RGB", (900, 800), "white")
    draw = ImageDraw.Draw(page)
    for line in range(30):
        text = " ".join(words[i] for i in rng.integers(0, len(words), 12))
        draw.text((15, 10 + line * 26), text, fill="black", font_size=18)
    return page


def test_a_mirrored_screenshot_is_verified_and_another_page_is_not():
    page = text_page(1)
    found = check(page, ImageOps.mirror(page))
    assert found is not None and found.mirrored and found.cells >= robust.MIN_CELLS
    assert check(page, text_page(2)) is None


def test_agreeing_is_what_was_measured():
    grey_a, grey_b = (robust.picture(encode(p)) for p in (scene(14), turned(scene(14), -10)))
    found_a, found_b = robust.features(grey_a), robust.features(grey_b)
    strict = robust.verify(grey_a, found_a, grey_b, found_b, False)
    loose = robust.verify(grey_a, found_a, grey_b, found_b, False, agreeing=0.0)
    assert strict is not None and loose is not None
    assert strict.agreeing == loose.agreeing >= robust.AGREEING


@pytest.mark.parametrize("size", [(1, 400), (400, 1), (3000, 5)])
def test_a_strip_gets_no_keypoints_and_stops_nothing(cli, desk, size):
    rng = np.random.default_rng(3)
    strip = Image.fromarray(rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8), "L")
    write_image(desk / "strip.png", strip, "PNG")
    found = robust.features(robust.picture(encode(strip, "PNG")))
    assert len(found.points) == len(found.mirror_points) == 0
    cli("scan", desk)
    result = cli("dupes", "--robust", "-f", "json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["clusters"]) == 1
    probe = cli("lookup", "--image", desk / "strip.png", "--robust", "-f", "json")
    assert probe.exit_code == 0, probe.output


def test_a_fifo_where_a_file_was_and_a_bad_cache_row_stop_nothing(cli, desk):
    cli("scan", desk)
    (desk / "tilted.jpg").unlink()
    os.mkfifo(desk / "tilted.jpg")  # a read would block for ever
    cache = Path(f"{cli.db}.cache")
    cache.mkdir()
    with sqlite3.connect(cache / "features.sqlite") as db:
        db.execute("CREATE TABLE features (sha256 TEXT PRIMARY KEY, data BLOB)")
        rows = [(image, None) for image in _shas(cli)]
        db.executemany("INSERT INTO features VALUES (?, ?)", rows)
    report = json.loads(cli("dupes", "--robust", "-f", "json").stdout)
    assert report["robust"]["features"]["unavailable"] == 1
    assert _names(report["clusters"][0]) == ["crop.jpg", "flipped.jpg", "original.jpg"]


def _shas(cli) -> list[str]:
    return [i["sha256"] for i in json.loads(cli("export").stdout)["images"]]
