"""Parallel fingerprinting in the scan: same results as one process, bounded, no re-hashing."""

import hashlib
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from media_catalog import duplicate_clusters, hashing, open_store, scan, search
from media_catalog.extract import ExtractOptions, extract_file
from media_catalog.hashing import Hasher
from media_catalog.pipeline import _reference, _Scan
from media_catalog.resolve import Resolver

from .conftest import encode, photo, write_image
from .test_metadata import with_iptc, xmp_packet


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Good photos, a byte-identical copy, a corrupt file an article points at, a PNG named
    .jpg, a JPEG named .png, and a large photo decoded in draft."""
    root = tmp_path / "mixed"
    for k in range(6):
        write_image(root / f"p{k}.jpg", photo(50 + k))
    (root / "copy.jpg").write_bytes((root / "p0.jpg").read_bytes())
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    (root / "really-png.jpg").write_bytes(encode(photo(60), "PNG"))
    (root / "really-jpeg.png").write_bytes(encode(photo(61), "JPEG"))
    write_image(root / "large.jpg", photo(62, (1600, 1200)))
    (root / "post.html").write_text(
        '<img src="corrupt.jpg" alt="bad"><img src="p1.jpg" alt="good"><img src="copy.jpg">'
    )
    return root


def _result(db: Path) -> tuple[list[dict], list[tuple]]:
    catalog = open_store(db)
    images = sorted((i.to_dict() for i in catalog.image_objects()), key=lambda i: i["sha256"])
    errors = sorted(((e.path, e.code, e.article, e.position) for e in catalog.errors()), key=str)
    return images, errors


def test_parallel_scan_gives_the_same_catalogue_as_one_process(mixed, tmp_path):
    one = scan([mixed], open_store(tmp_path / "one.json"), workers=1)
    two = scan([mixed], open_store(tmp_path / "two.json"), workers=2)
    assert one == two
    assert _result(tmp_path / "one.json") == _result(tmp_path / "two.json")
    images, errors = _result(tmp_path / "two.json")
    assert two.unique_images == len(images) == 9 and two.errors == 2
    corrupt = str(mixed / "corrupt.jpg")
    assert errors == [
        (corrupt, "bad-image", str(mixed / "post.html"), 0),  # the reference to it
        (corrupt, "bad-image", None, None),  # the loose file
    ]
    formats = {Path(f).name: i["format"] for i in images for f in i["files"]}
    assert formats["really-png.jpg"] == "PNG" and formats["really-jpeg.png"] == "JPEG"
    decodes = {Path(f).name: i["decode"] for i in images for f in i["files"]}
    assert decodes["large.jpg"] == "draft" and decodes["p1.jpg"] == "full"
    copy = next(i for i in images if len(i["files"]) == 2)
    assert sorted(Path(f).name for f in copy["files"]) == ["copy.jpg", "p0.jpg"]


def test_known_and_repeated_bytes_are_hashed_once():
    seen, new = encode(photo(63)), encode(photo(64))
    with Hasher(1, known={hashlib.sha256(seen).hexdigest()}) as hasher:
        state = _Scan(max_bytes=10**9, hasher=hasher)
        for data in (seen, new, new, seen):
            state.image_bytes(data, "x")
        hasher.close()
    assert list(hasher.done) == [hashlib.sha256(new).hexdigest()]
    assert state.seen == {hashlib.sha256(seen).hexdigest(), hashlib.sha256(new).hexdigest()}


def test_a_rescan_does_not_hash_catalogued_bytes_again(mixed, tmp_path):
    db = tmp_path / "c.json"
    scan([mixed], open_store(db), workers=2)
    catalog = open_store(db)
    before = {i.sha256: i.to_dict() for i in catalog.images()}
    hashed = []
    other = tmp_path / "other"
    other.mkdir()
    (other / "same.jpg").write_bytes((mixed / "p2.jpg").read_bytes())
    with Hasher(1, on_hashed=lambda: hashed.append(1), known=catalog.known_images()) as hasher:
        state = _Scan(max_bytes=10**9, hasher=hasher)
        state.image_file(other / "same.jpg")
        state.settle(Resolver([other]))
    assert hashed == [] and state.seen == {
        hashlib.sha256((other / "same.jpg").read_bytes()).hexdigest()
    }
    assert state.seen <= before.keys()


def test_memory_stays_bounded_while_hashing(tmp_path):
    with Hasher(2) as hasher:
        for k in range(12):
            data = encode(photo(70 + k))
            hasher.submit(hashlib.sha256(data).hexdigest(), data, f"p{k}")
            assert len(hasher._pending) <= 2 * hasher.workers
        hasher.close()
    assert len(hasher.done) == 12


def test_progress_reports_every_file(mixed, tmp_path):
    calls = []
    scan([mixed], open_store(tmp_path / "c.json"), workers=2, progress=lambda *a: calls.append(a))
    total = len([p for p in mixed.iterdir()])
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_low_information_images_make_no_false_near_duplicates(tmp_path):
    root = tmp_path / "blank"
    write_image(root / "white.jpg", Image.new("RGB", (800, 600), "white"))
    write_image(root / "grey.png", Image.new("L", (640, 480), 128), "PNG")
    write_image(root / "black.jpg", Image.new("RGB", (800, 600), "black"))
    write_image(root / "icon-a.png", photo(80, (32, 32)), "PNG")
    write_image(root / "icon-b.png", photo(81, (32, 32)), "PNG")
    (root / "white-copy.jpg").write_bytes((root / "white.jpg").read_bytes())
    write_image(root / "photo.jpg", photo(82))
    write_image(root / "photo-small.jpg", photo(82).resize((160, 120)))
    catalog = open_store(tmp_path / "c.json")
    scan([root], catalog, workers=1)
    clusters = duplicate_clusters(catalog)
    near = [c for c in clusters if c.kind == "near"]
    assert [sorted(Path(i.files[0]).name for i in c.images) for c in near] == [
        ["photo-small.jpg", "photo.jpg"]
    ]
    exact = [c for c in clusters if c.kind == "exact"]
    assert [len(c.images[0].files) for c in exact] == [2]  # same bytes are still reuse
    low = {Path(f).name for i in catalog.image_objects() if i.low_information for f in i.files}
    assert low == {
        "white.jpg",
        "white-copy.jpg",
        "grey.png",
        "black.jpg",
        "icon-a.png",
        "icon-b.png",
    }


def test_the_photos_own_caption_and_credit_are_searchable(tmp_path):
    root = tmp_path / "news"
    data = with_iptc(
        encode(photo(83), "JPEG", xmp=xmp_packet(caption="Kharkiv station", credit="Reuters")),
        [(120, b"ignored: XMP wins"), (110, b"AFP")],
    )
    (root / "img").mkdir(parents=True)
    (root / "img" / "a.jpg").write_bytes(data)
    (root / "story.html").write_text(
        '<figure><img src="img/a.jpg" alt="platform"><figcaption>Evening</figcaption></figure>'
    )
    catalog = open_store(tmp_path / "c.json")
    scan([root], catalog, workers=1)
    for words in ("kharkiv", "reuters platform", "smoke rises", "market"):
        (hit,) = search(catalog, words)
        assert hit["alt"] == "platform" and hit["caption"] == "Evening"
    assert search(catalog, "AFP") == []


@pytest.mark.parametrize("workers", [1, 2])
def test_a_candidate_that_is_no_image_gives_way_to_the_next(tmp_path, workers):
    root = tmp_path / "page"
    root.mkdir()
    write_image(root / "good.jpg", photo(90))
    (root / "bad-a.jpg").write_bytes(b"not an image at all")
    (root / "bad-b.jpg").write_bytes(encode(photo(91))[:300])
    (root / "p.html").write_text(
        '<img srcset="bad-a.jpg 1000w, bad-b.jpg 500w" src="good.jpg" alt="falls back">'
        '<img srcset="bad-a.jpg 2x" src="bad-b.jpg" alt="all bad">'
    )
    catalog = open_store(tmp_path / "c.json")
    summary = scan([root / "p.html"], catalog, assets=[root], workers=workers)
    (image,) = catalog.image_objects()
    assert [o.alt for o in image.occurrences] == ["falls back"]
    assert image.occurrences[0].file == str(root / "good.jpg")
    (error,) = catalog.errors()  # the first candidate's failure
    assert (error.path, error.code, error.position) == (
        str(root / "bad-a.jpg"),
        "bad-image",
        1,
    )
    assert summary.errors == 1 and summary.unresolved == 1 and summary.unique_images == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_that_dies_does_not_stop_the_scan(workers):
    images = [encode(photo(100 + k)) for k in range(4)]
    with Hasher(workers) as hasher:
        for k, data in enumerate(images):
            hasher.submit(hashlib.sha256(data).hexdigest(), data, f"p{k}")
            if k == 1:  # kill a worker while images are in flight, as a crashing decoder would
                os.kill(next(iter(hasher._pool._processes)), signal.SIGKILL)
        hasher.close()
    assert sorted(hasher.done) == sorted(hashlib.sha256(d).hexdigest() for d in images)
    assert hasher.failed == {}


def test_saving_after_every_file_gives_the_same_catalogue(mixed, tmp_path):
    # each periodic save waits for the images in flight, so what it writes is final
    scan([mixed], open_store(tmp_path / "once.json"), workers=1)
    scan([mixed], open_store(tmp_path / "often.json"), workers=2, save_every=0)
    assert _result(tmp_path / "once.json") == _result(tmp_path / "often.json")


def _busy(hasher: Hasher, seconds: float) -> None:
    """Keep every worker busy for `seconds`, so that what is submitted next waits."""
    for _ in range(hasher.workers):
        hasher._pool.submit(time.sleep, seconds)


def test_a_file_that_changes_after_its_size_was_checked_is_a_recorded_error(tmp_path):
    gone, grown, good = tmp_path / "gone.jpg", tmp_path / "grown.jpg", tmp_path / "good.jpg"
    for k, path in enumerate((gone, grown, good)):
        write_image(path, photo(110 + k))
    limit = max(p.stat().st_size for p in (gone, grown, good))
    with Hasher(2) as hasher:
        state = _Scan(max_bytes=limit, hasher=hasher)
        _busy(hasher, 0.5)
        for path in (gone, grown, good):
            state.sources[str(path)] = {"sha256": None}
            assert state.image_file(path) is None  # the workers read it later
            state.loose.append(str(path))
        gone.unlink()  # between the resolver's checks and the worker's read
        with grown.open("ab") as file:
            file.write(b"\0" * (limit + 1))
        state.settle(Resolver([tmp_path]))
    errors = {Path(e.path).name: e.code for e in state.errors}
    assert errors == {"gone.jpg": "unreadable", "grown.jpg": "too-large"}
    assert state.files == {str(good): hashlib.sha256(good.read_bytes()).hexdigest()}
    assert state.sources[str(good)]["sha256"] == state.files[str(good)]
    assert state.sources[str(gone)]["sha256"] is None
    assert [*hasher.done] == [state.files[str(good)]]


def test_an_unreadable_candidate_gives_way_to_the_next_and_the_scan_goes_on(tmp_path):
    root = tmp_path / "page"
    write_image(root / "big.jpg", photo(120))
    write_image(root / "small.jpg", photo(121))
    (root / "p.html").write_text('<img srcset="big.jpg 2x" src="small.jpg" alt="a">')
    catalog = open_store(tmp_path / "c.json")
    with catalog.writing(), Hasher(2) as hasher:
        state = _Scan(max_bytes=10**9, hasher=hasher)
        _busy(hasher, 0.5)
        resolver = Resolver([root])
        (article,) = extract_file(root / "p.html", "html", ExtractOptions())
        _reference(state, resolver, article, article.refs[0])
        (root / "big.jpg").unlink()
        state.settle(resolver)
    (occurrence,) = state.occurrences
    assert occurrence.file == str(root / "small.jpg")
    assert occurrence.sha256 == hashlib.sha256((root / "small.jpg").read_bytes()).hexdigest()
    assert state.errors == []  # as when a candidate is no image: the next one is the answer


def test_the_same_bytes_under_three_paths_are_one_image_with_three_files(tmp_path):
    root = tmp_path / "dupes"
    data = encode(photo(130))
    for name in ("a.jpg", "b/a-copy.jpg", "c/again.jpg"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    write_image(root / "other.jpg", photo(131))
    (root / "post.html").write_text('<img src="b/a-copy.jpg" alt="x"><img src="a.jpg" alt="y">')
    catalog = open_store(tmp_path / "c.json")
    summary = scan([root], catalog, workers=2)
    assert summary.unique_images == 2 and summary.errors == 0
    (image,) = [i.to_dict() for i in catalog.image_objects() if len(i.files) > 1]
    assert image["sha256"] == hashlib.sha256(data).hexdigest()
    names = ["a.jpg", "b/a-copy.jpg", "c/again.jpg"]
    assert [Path(f).relative_to(root).as_posix() for f in image["files"]] == names
    assert sorted(o["alt"] for o in image["occurrences"]) == ["x", "y"]
    again = scan([root], open_store(tmp_path / "c.json"), workers=2)
    assert again.skipped == 5 and len(list(open_store(tmp_path / "c.json").images())) == 2


def _linger(ready) -> None:
    ready.set()
    time.sleep(30)


def test_a_process_forked_under_the_lock_does_not_hold_it(tmp_path):
    # workers are forked while the scan holds the lock; a killed scan must release it at once
    db = tmp_path / "c.json"
    fork = multiprocessing.get_context("fork")
    ready = fork.Event()
    with open_store(db).writing():
        child = fork.Process(target=_linger, args=(ready,))
        child.start()
        assert ready.wait(10)
    try:
        with open_store(db).writing():  # CatalogError if the child had kept the lock
            pass
    finally:
        child.kill()
        child.join()


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signal is Linux's")
def test_workers_end_with_a_killed_scan():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the "scan": start workers, say who they are, wait to be killed
        with Hasher(2) as hasher:
            os.write(write, " ".join(map(str, hasher._pool._processes)).encode())
            time.sleep(60)
        os._exit(0)
    os.close(write)
    workers = [int(p) for p in os.read(read, 100).split()]
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    deadline = time.monotonic() + 10
    while not all(map(_gone, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(workers) == 2 and all(map(_gone, workers))


@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signal is Linux's")
def test_a_worker_whose_scan_died_before_it_started_ends():
    # A scan killed while its workers start: a worker asks for the parent-death signal too
    # late to get it, and must see for itself that its scan is gone (it waited forever).
    pid = os.fork()
    if pid == 0:
        hashing._remember(set(), os.getpid())  # its parent is not "the scan": as if it died
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 1


def _scan_in(folder: str) -> tuple[int, int]:
    summary = scan([Path(folder)], open_store(Path(folder) / "c.json"), workers=1)
    return summary.loose_images, summary.unique_images


def test_a_scan_inside_a_pool_worker_hashes_in_process(tmp_path):
    # a pool's worker is daemonic and may not start workers of its own
    for k in range(3):
        write_image(tmp_path / f"p{k}.jpg", photo(120 + k))
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(_scan_in, (str(tmp_path),)) == (3, 3)


def test_images_are_catalogued_in_the_order_met_however_the_workers_finish(tmp_path):
    # workers finish images in any order; the catalogue lists them as the scan met them, so
    # two scans of the same files (in either store, with any workers) export alike
    samples = Path(__file__).parents[1] / "samples"
    exports = []
    for name, workers in (("one.json", 1), ("two.json", 2), ("two.sqlite", 2), ("again.json", 2)):
        catalog = open_store(tmp_path / name)
        scan([samples], catalog, assets=[samples / "assets"], workers=workers)
        lists = open_store(tmp_path / name).contract_lists()
        exports.append({key: list(found) for key, found in lists.items()})
    assert all(export == exports[0] for export in exports[1:])
