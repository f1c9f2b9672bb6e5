"""Catalogue at archive scale: writing, command-line answers, and incremental re-scans.

    python benchmarks/catalog.py                      # 100,000 images / 300,000 occurrences
    python benchmarks/catalog.py --images 20000 --occurrences 60000 --rescan 2000   # quicker

1. Writing: the same documents written by media-catalog's Catalog.record + save (all changes
   batched in memory, one orjson write, atomic rename, then the read index) and by plain
   TinyDB usage (default JSONStorage, one insert per document; only the first --plain-inserts
   documents, since it grows quadratically). The read index's share of a save is timed apart.
2. Reading from the command line on the full synthetic catalogue: `lookup` by SHA-256 prefix,
   by pHash, `search` with queries, `show`, each a fresh `python -m media_catalog` process
   (wall time, peak RSS), once answered from the read index and once from the same file
   without an index (the whole catalogue loaded); the plain-TinyDB baseline opens the same
   file with TinyDB's default storage and runs one hash query.
3. Incremental re-scan: a folder of --rescan small generated images (64x64 PNG), first scan vs
   re-scan of the unchanged folder.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import tinydb
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from media_catalog import Catalog, duplicate_clusters, scan  # noqa: E402
from media_catalog.catalog import AtomicJSONStorage  # noqa: E402
from media_catalog.index import index_path  # noqa: E402
from media_catalog.models import Fingerprint, ImageRef, Occurrence, PerceptualHash  # noqa: E402

WORDS = [
    "دو",
    "انفجار",
    "انتحاری",
    "در",
    "حسکه",
    "با",
    "دهها",
    "کشته",
    "و",
    "مجروح",
    "تصاویر",
    "market",
    "fire",
    "coffee",
    "stall",
    "photo",
    "archive",
    "news",
    "city",
    "street",
    "harbour",
    "election",
    "crowd",
    "rain",
]


def synthetic(images: int, occurrences: int, seed: int = 1):
    """Fingerprints, loose files and occurrences shaped like a news archive."""
    rng = random.Random(seed)
    prints = []
    for i in range(images):
        exif = {"make": "Canon", "model": "EOS 5D", "taken": f"20{10 + i % 14}-06-01T12:00:00"}
        prints.append(
            Fingerprint(
                sha256=hashlib.sha256(str(i).encode()).hexdigest(),
                phash=PerceptualHash("phash", rng.getrandbits(64)),
                dhash=PerceptualHash("dhash", rng.getrandbits(64)),
                width=rng.randint(100, 4000),
                height=rng.randint(100, 3000),
                format=rng.choice(["JPEG", "PNG", "WEBP"]),
                exif=exif if i % 3 == 0 else {},
            )
        )
    files = {f"/archive/photos/{i // 1000}/{i}.jpg": prints[i].sha256 for i in range(images)}
    occ = []
    for j in range(occurrences):
        article = f"/archive/articles/{j // 300}/{j // 3}.html"
        ref = ImageRef(
            article,
            j % 3,
            f"../photos/{j % images}.jpg",
            " ".join(rng.choice(WORDS) for _ in range(8)),
            " ".join(rng.choice(WORDS) for _ in range(14)) if j % 2 else None,
        )
        i = j % images
        occ.append(Occurrence(ref, prints[i].sha256, f"/archive/photos/{i // 1000}/{i}.jpg"))
    sources = {a: {"size": 1, "mtime_ns": 1, "sha256": None} for a in {o.ref.article for o in occ}}
    return prints, files, occ, sources


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


# Peak memory is read by the measured process itself (VmHWM, which exec resets): the rusage
# of a child started by a big parent counts the parent's pages copied at fork.
_REPORT_PEAK = """
import atexit, sys
def _peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            sys.stderr.write("\\npeak-kB " + line.split()[1] + "\\n")
atexit.register(_peak)
"""
_RUN_CLI = (
    "import runpy; sys.argv[0] = 'media-catalog'; "
    "runpy.run_module('media_catalog', run_name='__main__')"
)


# As installed: Python may keep compiled modules (an environment that forbids it makes every
# start-up compile media-catalog's modules again, 40 ms here).
_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def run(code: str, args: list[str]) -> tuple[float, float, float, bytes]:
    """Wall seconds, CPU seconds (user + system), peak RSS (MB) and output of a fresh
    `python -c CODE ARGS…`. CPU time suffers less than wall time from a shared machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _REPORT_PEAK + code, *args], capture_output=True, env=_ENV
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{args} failed: {done.stderr.decode()}")
    peak = int(done.stderr.decode().rsplit("peak-kB ", 1)[1].split()[0])
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, cpu, peak / 1024, done.stdout


def best(code: str, args: list[str], times: int = 3) -> tuple[float, float, float, bytes]:
    """`run` `times` times: the fastest (by wall time), as the machine is shared."""
    return min((run(code, args) for _ in range(times)), key=lambda result: result[0])


def answers(output: bytes) -> int:
    """How many matches, results or images a command's JSON output holds."""
    data = orjson.loads(output)
    if "image" in data:  # show
        return 1 + len(data["near_duplicates"])
    return len(data.get("matches", data.get("results", [])))


def bench_write(work: Path, args) -> Path:
    prints, files, occ, sources = synthetic(args.images, args.occurrences)
    n = args.plain_inserts
    plain_db = work / "plain.json"
    docs = [{**p.to_dict(), "files": []} for p in prints[:n]]
    plain = tinydb.TinyDB(plain_db)
    t_plain, _ = timed(lambda: [plain.table("images").insert(doc) for doc in docs])
    plain.close()
    small = Catalog(work / "small.json")
    t_small, _ = timed(
        lambda: (
            small.record(sources={}, fingerprints=prints[:n], files={}, occurrences=[], errors=[]),
            small.save(),
        )
    )
    print(f"\n## Writing {n:,} image documents")
    print(f"plain TinyDB, one insert each: {t_plain:.2f} s")
    print(f"Catalog.record + save:         {t_small:.3f} s  ({t_plain / t_small:.0f}x faster)")

    db = work / "big.json"
    catalog = Catalog(db)
    t_record, _ = timed(
        catalog.record,
        sources=sources,
        fingerprints=prints,
        files=files,
        occurrences=occ,
        errors=[],
    )
    t_save, _ = timed(catalog.save)
    size = db.stat().st_size / 1e6
    index_size = index_path(db).stat().st_size / 1e6
    tables = orjson.loads(db.read_bytes())
    t_json, _ = timed(AtomicJSONStorage(str(work / "json-only.json")).write, tables)
    del tables
    print(f"\n## Full catalogue: {args.images:,} images, {args.occurrences:,} occurrences")
    print(f"record {t_record:.2f} s + save {t_save:.2f} s; file {size:.0f} MB")
    print(
        f"of the save, the catalogue file alone: {t_json:.2f} s; the read index: "
        f"{t_save - t_json:.2f} s, index file {index_size:.0f} MB"
    )
    # a re-scan that changed one article: the save builds the index on the previous one
    with catalog.writing():
        changed = occ[7].ref.article
        ref = ImageRef(changed, 0, "../photos/1.jpg", "a new alt text", None)
        catalog.record(
            sources={changed: {"size": 2, "mtime_ns": 2, "sha256": None}},
            fingerprints=[],
            files={},
            occurrences=[Occurrence(ref, prints[1].sha256, files and next(iter(files)))],
            errors=[],
        )
        t_again, _ = timed(catalog.save)
    print(f"save after one article changed: {t_again:.2f} s (the first save: {t_save:.2f} s)")
    return db


def bench_table(db: Path, commands: list[tuple[str, list[str]]]) -> None:
    """The same commands with their default output, a table (search: the first 100); best of
    three runs."""
    print("| command (table output) | wall s | CPU s | peak RSS MB |\n|---|---|---|---|")
    for name, args in commands:
        seconds, cpu, rss, _ = best(_RUN_CLI, [*args, "--db", str(db)])
        print(f"| `{name}` | {seconds:.2f} | {cpu:.2f} | {rss:.0f} |", flush=True)


def bench_read(db: Path) -> None:
    tables = orjson.loads(db.read_bytes())
    image = next(iter(tables["images"].values()))
    del tables
    whole = db.with_name("no-index.json")  # the same catalogue with no index beside it
    whole.write_bytes(db.read_bytes())
    plain = (
        "import tinydb; db = tinydb.TinyDB(sys.argv[1]); "
        "print(db.table('images').search(tinydb.Query().sha256 == sys.argv[2]))"
    )
    commands = [
        ("lookup sha256:PREFIX", ["lookup", f"sha256:{image['sha256'][:12]}"]),
        ("lookup PHASH --distance 4", ["lookup", image["phash"], "--distance", "4"]),
        ("search 'coffee caption:market'", ["search", "coffee caption:market"]),
        ("search 'حسکه انفجار'", ["search", "حسکه انفجار"]),
        ("search market", ["search", "market"]),
        (
            "search 'caption:\"coffee stall\" -alt:news'",
            ["search", 'caption:"coffee stall" -alt:news'],
        ),
        (
            "search 'width:>3000 format:png -alt:fire'",
            ["search", "width:>3000 format:png -alt:fire"],
        ),
        ("search 'taken:2015..2016 uses:>2'", ["search", "taken:2015..2016 uses:>2"]),
        ("search 'width:>3990 camera:canon'", ["search", "width:>3990 camera:canon"]),
        ("show PREFIX", ["show", image["sha256"][:12]]),
    ]
    print(f"\n## Command line on the full catalogue ({db.stat().st_size / 1e6:.0f} MB)")
    run(_RUN_CLI, ["--version"])  # compiles media-catalog's modules once
    seconds, cpu, rss, _ = run(plain, [str(db), image["sha256"]])
    print(f"plain TinyDB: open + 1 hash query: {seconds:.2f} s (CPU {cpu:.2f} s), {rss:.0f} MB")
    seconds, cpu, rss, _ = run(_RUN_CLI, ["--version"])
    print(
        f"media-catalog --version (start-up alone): {seconds:.2f} s (CPU {cpu:.2f} s), {rss:.0f} MB"
    )
    print(
        "| command | answers | read index (best of 3): wall s | CPU s | peak RSS MB "
        "| whole catalogue: wall s | CPU s | peak RSS MB | wall ratio |"
        "\n|---|---|---|---|---|---|---|---|---|"
    )
    for name, args in commands:
        fast, fast_cpu, fast_rss, out = best(_RUN_CLI, [*args, "--db", str(db), "-f", "json"])
        slow, slow_cpu, slow_rss, expected = run(
            _RUN_CLI, [*args, "--db", str(whole), "-f", "json"]
        )
        if out != expected.replace(str(whole).encode(), str(db).encode()):
            raise SystemExit(f"{name}: the read index answered differently")
        print(
            f"| `{name}` | {answers(out):,} | {fast:.2f} | {fast_cpu:.2f} | {fast_rss:.0f} "
            f"| {slow:.2f} | {slow_cpu:.2f} | {slow_rss:.0f} | {slow / fast:.0f}x |",
            flush=True,
        )
    bench_table(db, commands)


def bench_rescan(work: Path, count: int) -> None:
    folder = work / "photos"
    rng = np.random.default_rng(7)
    for i in range(count):
        path = folder / f"{i // 1000}" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).resize((64, 64), Image.Resampling.BICUBIC).save(path)
    db = work / "rescan.json"
    t_first, first = timed(scan, [folder], Catalog(db))
    t_again, again = timed(scan, [folder], Catalog(db))
    print(f"\n## Re-scan of an unchanged folder of {count:,} 64x64 PNGs")
    print(f"first scan {t_first:.2f} s ({first.loose_images:,} read)")
    print(f"re-scan    {t_again:.2f} s ({again.skipped:,} skipped) = {t_again / t_first:.1%}")
    t_clusters, _ = timed(duplicate_clusters, Catalog(db))
    print(
        f"of which the summary's duplicate clusters (counted after every scan): {t_clusters:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--occurrences", type=int, default=300_000)
    parser.add_argument("--plain-inserts", type=int, default=2_000)
    parser.add_argument("--rescan", type=int, default=10_000)
    parser.add_argument("--read", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:  # a small process, so its children's peak RSS is theirs alone
        bench_read(args.read)
        return
    print(f"# {time.strftime('%Y-%m-%d')} {platform.machine()}, {os.cpu_count()} cores, ")
    print(
        f"Python {platform.python_version()}, tinydb {tinydb.__version__}, "
        f"orjson {orjson.__version__}, numpy {np.__version__}; load {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = bench_write(work, args)
        sys.stdout.flush()
        subprocess.run([sys.executable, __file__, "--read", str(db)], check=True)
        bench_rescan(work, args.rescan)


if __name__ == "__main__":
    main()
