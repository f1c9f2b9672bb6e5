"""How fast does media-catalog fingerprint JPEG photos, and may it decode them in draft mode?

Run from the repository root (scikit-image and scikit-learn are needed only for the
photographs their wheels ship; no network access is needed):

    python benchmarks/fingerprint.py            # the full run recorded in docs/benchmarks.md
    python benchmarks/fingerprint.py --limit 200  # a quick look
    python benchmarks/fingerprint.py --set grainy --speed-only  # the harder photo set

1. Corpus. Makes (once, deterministically) CORPUS_SIZE JPEG photos under /tmp from the
   photographs in the skimage and sklearn wheels: a random crop, maybe mirrored, resized to
   1-12 megapixels, with a little film grain, saved at quality 60-95 (set `photos`); or the
   same crops made harder to decode (set `grainy`: grain of sigma 1-4, 40 % greyscale,
   quality 55-97, half progressive, half with optimised Huffman tables, chroma subsampling
   4:4:4, 4:2:2 or 4:2:0).
2. Draft agreement. pHash/dHash Hamming distance between a full decode and Pillow's draft
   decode (libjpeg DCT scaling, luminance only) at several target sizes, on photos at native
   detail (the source photographs and crops of them, and large mosaics of native-size crops,
   which have native detail at every pixel) and on the large upscaled corpus photos.
3. Speed. Images per second of `media_catalog.scan` (walk, read, SHA-256, fingerprint with
   EXIF/IPTC/XMP, catalogue write) with 1 and all workers, and of `fingerprint()` with draft
   off, against the plain loop `imagehash.phash(Image.open(path))` over the same files in the
   same run. Each configuration runs in its own process, which reports its peak memory
   (getrusage maxrss of itself and of its worker processes).

Output is Markdown on stdout.
"""

from __future__ import annotations

import argparse
import importlib
import io
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageOps

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import imagehash  # noqa: E402

from media_catalog.fingerprint import fingerprint  # noqa: E402

# the module, not the function of the same name that media_catalog exports
fingerprint_module = importlib.import_module("media_catalog.fingerprint")

CORPUS = Path(tempfile.gettempdir()) / "media-catalog-bench" / "photos"
CORPUS_SIZE = 2000
# Draft rules measured: (scale-down, smallest side kept): JPEGs whose shorter side is at least
# scale * side are decoded at 1/scale. The first is media_catalog's rule.
DRAFT_RULES = ((4, 256), (2, 256), (8, 128), (8, 256))


def sources() -> dict[str, Image.Image]:
    """The photographs shipped in the scikit-image and scikit-learn wheels, as RGB or L."""
    try:
        import skimage
        import sklearn
    except ImportError:
        sys.exit("needs the photographs in their wheels: pip install scikit-image scikit-learn")
    skdata = Path(skimage.__file__).resolve().parent / "data"
    files = [
        skdata / name
        for name in (
            "astronaut.png",
            "brick.png",
            "camera.png",
            "chelsea.png",
            "clock_motion.png",
            "coffee.png",
            "coins.png",
            "grass.png",
            "gravel.png",
            "hubble_deep_field.jpg",
            "ihc.png",
            "moon.png",
            "motorcycle_left.png",
            "motorcycle_right.png",
            "retina.jpg",
            "rocket.jpg",
        )
    ]
    images = Path(sklearn.__file__).resolve().parent / "datasets" / "images"
    files += [images / "china.jpg", images / "flower.jpg"]
    return {
        f.stem: Image.open(f).convert("L" if Image.open(f).mode == "L" else "RGB") for f in files
    }


def _grain(size: tuple[int, int], seed: int, sigma: float) -> Image.Image:
    """Film grain: one Gaussian noise tile (centred on 128) repeated over `size`."""
    tile = np.random.default_rng(seed).normal(128, sigma, (512, 512)).round().clip(0, 255)
    tile_image = Image.fromarray(tile.astype(np.uint8), "L")
    grain = Image.new("L", size)
    for y in range(0, size[1], 512):
        for x in range(0, size[0], 512):
            grain.paste(tile_image, (x, y))
    return grain


def _scene(index: int, rng: np.random.Generator, photos: dict[str, Image.Image]) -> Image.Image:
    """A random crop of photograph `index` (modulo), maybe mirrored, resized to 1-12 MP."""
    names = sorted(photos)
    source = photos[names[index % len(names)]]
    w, h = source.size
    cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    image = source.crop((x, y, x + cw, y + ch))
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    scale = (rng.uniform(1.0, 12.0) * 1e6 / (cw * ch)) ** 0.5
    return image.resize((round(cw * scale), round(ch * scale)), Image.Resampling.BICUBIC)


def make_photo(index: int, photos: dict[str, Image.Image]) -> bytes:
    rng = np.random.default_rng(index)
    image = _scene(index, rng, photos)
    size = image.size
    grain = _grain(size, index, rng.uniform(0.0, 3.0))
    if image.mode == "RGB":
        grain = Image.merge("RGB", (grain, grain, grain))
    image = ImageChops.add(image, grain, 1, -128)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=int(rng.integers(60, 96)))
    return buffer.getvalue()


def make_grainy(index: int, photos: dict[str, Image.Image]) -> bytes:
    """A photo of the `grainy` set (see the module's docstring), from seed `index`."""
    rng = np.random.default_rng(10_000 + index)
    image = _scene(index, rng, photos)
    size = image.size
    if rng.random() < 0.4:
        image = image.convert("L")
    grain = _grain(size, 10_000 + index, rng.uniform(1.0, 4.0))
    if image.mode == "RGB":
        grain = Image.merge("RGB", (grain, grain, grain))
    image = ImageChops.add(image, grain, 1, -128)
    buffer = io.BytesIO()
    options = {
        "quality": int(rng.integers(55, 98)),
        "progressive": bool(rng.random() < 0.5),
        "optimize": bool(rng.random() < 0.5),
    }
    if image.mode == "RGB":
        options["subsampling"] = int(rng.integers(0, 3))  # 4:4:4, 4:2:2, 4:2:0
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


SETS = {"photos": (CORPUS, make_photo), "grainy": (CORPUS.parent / "grainy", make_grainy)}


def _make_range(indices: list[int], set_name: str) -> int:
    folder, make = SETS[set_name]
    photos = sources()
    for index in indices:
        path = folder / f"{index:05d}.jpg"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(make(index, photos))
            tmp.rename(path)
    return len(indices)


def make_corpus(count: int, set_name: str = "photos") -> list[Path]:
    """The files 0..count-1 of a photo set (SETS), made where missing (in parallel,
    deterministically)."""
    folder = SETS[set_name][0]
    folder.mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(count) if not (folder / f"{i:05d}.jpg").exists()]
    if missing:
        print(f"[making {len(missing)} photos under {folder}]", file=sys.stderr)
        workers = os.cpu_count() or 1
        chunks = [missing[k::workers] for k in range(workers)]
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_make_range, chunks, [set_name] * workers))
    return [folder / f"{i:05d}.jpg" for i in range(count)]


# -- 2. draft agreement -----------------------------------------------------------------


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def native_set(photos: dict[str, Image.Image]) -> list[bytes]:
    """Photos at native detail: each source and three crops of it, at quality 75 and 90."""
    rng = np.random.default_rng(1)
    found = []
    for name in sorted(photos):
        image = photos[name].convert("RGB")
        w, h = image.size
        crops = [image]
        for _ in range(3):
            cw, ch = int(w * rng.uniform(0.6, 0.9)), int(h * rng.uniform(0.6, 0.9))
            x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            crops.append(image.crop((x, y, x + cw, y + ch)))
        found += [_jpeg(crop, q) for crop in crops for q in (75, 90)]
    return found


def mosaic_set(photos: dict[str, Image.Image], count: int = 40) -> list[bytes]:
    """Large photos with native detail at every pixel: grids of native-size crops,
    2-12 megapixels."""
    rng = np.random.default_rng(2)
    names = sorted(photos)
    found = []
    for _ in range(count):
        tile = int(rng.integers(280, 420))
        cols, rows = int(rng.integers(4, 11)), int(rng.integers(3, 9))
        canvas = Image.new("RGB", (cols * tile, rows * tile))
        for r in range(rows):
            for c in range(cols):
                source = photos[names[int(rng.integers(len(names)))]].convert("RGB")
                x = int(rng.integers(0, source.width - tile + 1)) if source.width > tile else 0
                y = int(rng.integers(0, source.height - tile + 1)) if source.height > tile else 0
                canvas.paste(source.crop((x, y, x + tile, y + tile)), (c * tile, r * tile))
        found.append(_jpeg(canvas, int(rng.integers(70, 96))))
    return found


def _resaved(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return _jpeg(image, 95)


def _row(cells: list[object]) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def _histogram(d: np.ndarray) -> list[str]:
    counts = [int((d == v).sum()) for v in range(5)] + [int((d >= 5).sum())]
    return [f"{100 * c / len(d):.0f}%" if c else "." for c in counts]


def _label(rule: tuple[int, int]) -> str:
    return f"1/{rule[0]} if shorter side >= {rule[0] * rule[1]}"


def agreement(sets: dict[str, list[bytes]]) -> tuple[list[str], list[str]]:
    """Markdown tables: a summary per draft rule over every image it drafts, and the
    draft-vs-full Hamming distance distributions per set and rule."""
    bins = ["0", "1", "2", "3", "4", ">=5"]
    header = ["set", "decode compared with full", "n", "hash", *[f"d={b}" for b in bins], "max"]
    detail = [_row(header), "|" + "---|" * len(header)]
    totals: dict[tuple[int, int], list[tuple[int, int]]] = {rule: [] for rule in DRAFT_RULES}
    saved = fingerprint_module.DRAFT_SCALE, fingerprint_module.DRAFT_MIN_SIDE
    try:
        for set_name, images in sets.items():
            full = [fingerprint(data, draft=False) for data in images]
            again = [fingerprint(_resaved(data), draft=False) for data in images]
            pairs = zip(again, full, strict=True)
            resaved = [(a.phash - f.phash, a.dhash - f.dhash) for a, f in pairs]
            rows = [("full decode of a q95 re-save", resaved)]
            for rule in DRAFT_RULES:
                fingerprint_module.DRAFT_SCALE, fingerprint_module.DRAFT_MIN_SIDE = rule
                drafted = []
                for data, reference in zip(images, full, strict=True):
                    made = fingerprint(data)
                    if made.decode == "draft":
                        drafted.append((made.phash - reference.phash, made.dhash - reference.dhash))
                totals[rule] += drafted
                rows.append((f"draft {_label(rule)}", drafted))
            for label, found in rows:
                for k, hash_name in enumerate(("pHash", "dHash")):
                    d = np.array([pair[k] for pair in found])
                    if len(d):
                        cells = [set_name, label, len(d), hash_name, *_histogram(d), d.max()]
                        detail.append(_row(cells))
    finally:
        fingerprint_module.DRAFT_SCALE, fingerprint_module.DRAFT_MIN_SIDE = saved
    header = ["draft rule", "images drafted", "pHash same", "pHash <= 2", "pHash max"]
    summary = [_row([*header, "dHash <= 2", "dHash max"]), "|" + "---|" * (len(header) + 2)]
    for rule, found in totals.items():
        p = np.array([pair[0] for pair in found])
        d = np.array([pair[1] for pair in found])
        summary.append(
            _row(
                [
                    _label(rule),
                    len(p),
                    f"{100 * (p == 0).mean():.1f}%",
                    f"{100 * (p <= 2).mean():.1f}%",
                    p.max(),
                    f"{100 * (d <= 2).mean():.1f}%",
                    d.max(),
                ]
            )
        )
    return summary, detail


# -- 3. speed ---------------------------------------------------------------------------


def _plain(files: list[Path]) -> None:
    for path in files:
        imagehash.phash(Image.open(path))


def _fingerprints(files: list[Path], draft: bool) -> None:
    for path in files:
        fingerprint(path.read_bytes(), str(path), draft=draft)


def _scan(files: list[Path], workers: int) -> None:
    from media_catalog import open_store, scan

    with tempfile.TemporaryDirectory() as tmp:
        summary = scan(files, open_store(Path(tmp) / "bench.json"), workers=workers)
    assert summary.unique_images == len(files) and summary.errors == 0, summary


MODES = {
    "plain": ("`imagehash.phash(Image.open(path))` loop (baseline)", _plain),
    "full": (
        "`fingerprint(bytes, draft=False)` loop, 1 process",
        lambda f: _fingerprints(f, False),
    ),
    "draft": ("`fingerprint(bytes)` loop, 1 process", lambda f: _fingerprints(f, True)),
    "scan1": ("`scan(files, catalog, workers=1)`", lambda f: _scan(f, 1)),
    "scan": ("`scan(files, catalog)`, all cores", lambda f: _scan(f, os.cpu_count() or 1)),
}


def time_mode(mode: str, start: int, stop: int, set_name: str) -> dict[str, float]:
    """Run one mode over the set's files start..stop-1 in a fresh process: its wall-clock and
    CPU seconds (its own and its workers') and peak memory (MiB)."""
    out = subprocess.run(
        [sys.executable, __file__, "--time", mode, str(start), str(stop), set_name],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def _child(mode: str, start: int, stop: int, set_name: str) -> None:
    files = make_corpus(stop, set_name)[start:]
    started = time.perf_counter()
    MODES[mode][1](files)
    seconds = time.perf_counter() - started
    me, workers = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    mib = 1024  # ru_maxrss is in KiB on Linux
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu": me.ru_utime + me.ru_stime + workers.ru_utime + workers.ru_stime,
                "self": me.ru_maxrss / mib,
                "workers": workers.ru_maxrss / mib,
            }
        )
    )


def speed(modes: list[str], count: int, rounds: int, set_name: str) -> list[str]:
    """Markdown table: each mode over the first `count` files, run in `rounds` interleaved
    slices (plain, then the others, slice after slice) so that a change in the machine's
    load hits every mode alike."""
    header = ["configuration", "images/s", "vs plain", "CPU ms/image", "peak RSS main"]
    out = [_row([*header, "peak RSS worker"]), "|" + "---|" * (len(header) + 1)]
    totals = {mode: {"seconds": 0.0, "cpu": 0.0, "self": 0.0, "workers": 0.0} for mode in modes}
    bounds = [count * k // rounds for k in range(rounds + 1)]
    for start, stop in itertools.pairwise(bounds):
        for mode in modes:
            result = time_mode(mode, start, stop, set_name)
            total = totals[mode]
            total["seconds"] += result["seconds"]
            total["cpu"] += result["cpu"]
            total["self"] = max(total["self"], result["self"])
            total["workers"] = max(total["workers"], result["workers"])
            print(
                f"[{mode} {start}-{stop}: {(stop - start) / result['seconds']:.1f}/s]",
                file=sys.stderr,
            )
    plain = count / totals["plain"]["seconds"]
    for mode, total in totals.items():
        rate = count / total["seconds"]
        worker = f"{total['workers']:.0f} MiB" if mode.startswith("scan") else "-"
        cells = [MODES[mode][0], f"{rate:.1f}", f"{rate / plain:.2f}x"]
        cells += [f"{1000 * total['cpu'] / count:.0f}", f"{total['self']:.0f} MiB", worker]
        out.append(_row(cells))
    return out


def _versions() -> str:
    from PIL import features

    names = ("pillow", "imagehash", "numpy", "exifread", "scipy")
    libs = ", ".join(f"{n} {metadata.version(n)}" for n in names)
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{libs}, libjpeg-turbo {features.version('libjpeg_turbo')}"
    )


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=CORPUS_SIZE, help="corpus files to use")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds for speed")
    parser.add_argument("--speed-only", action="store_true", help="skip the draft agreement")
    parser.add_argument("--set", choices=tuple(SETS), default="photos", help="photo set")
    args = parser.parse_args()
    count = args.limit
    small = min(count, 300)
    files = make_corpus(count, args.set)
    sizes = []
    for path in files:
        with Image.open(path) as image:
            sizes.append((image.width * image.height, image.mode))
    megapixels = np.array([s[0] for s in sizes]) / 1e6
    disk = sum(path.stat().st_size for path in files) / 2**20
    for path in files:  # warm the page cache: the runs below measure our code, not the disk
        path.read_bytes()
    print("Machine:", _versions())
    print(f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"Load before: `{_uptime()}`\n")
    print(
        f"Corpus: {count} JPEG photos in {SETS[args.set][0]}, {disk:.0f} MiB, "
        f"{megapixels.min():.1f}-{megapixels.max():.1f} megapixels "
        f"(median {np.median(megapixels):.1f}), "
        f"{sum(m == 'L' for _, m in sizes)} greyscale.\n"
    )
    print(f"### Speed: all {count} files, {args.rounds} interleaved rounds\n")
    print("\n".join(speed(["plain", "scan"], count, args.rounds, args.set)))
    print(f"\n### Where the time goes: the first {small} files\n")
    print("\n".join(speed(list(MODES), small, 1, args.set)))
    print(f"\nLoad after: `{_uptime()}`\n")
    if args.speed_only:
        return
    print("### Draft against full decode\n")
    photos = sources()
    summary, detail = agreement(
        {
            "native": native_set(photos),
            "native mosaics": mosaic_set(photos),
            "upscaled corpus": [path.read_bytes() for path in files[:small]],
        }
    )
    print("\n".join([*summary, "", *detail]))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--make-corpus"]:
        make_corpus(int(sys.argv[2]))
    elif sys.argv[1:2] == ["--time"]:
        _child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        main()
