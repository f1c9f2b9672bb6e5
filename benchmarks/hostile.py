"""What do the slow classes of hostile input cost at full size? Time and peak memory per class.

Run from the repository root (nothing to install beyond the project and its test extras):

    python benchmarks/hostile.py                 # every class, as docs/benchmarks.md records
    python benchmarks/hostile.py --only png16    # one class

Each class is one input made here (once, under --work) and handled in a fresh process as a
scan's worker or reader would: images by `fingerprint()` (what runs in each hashing worker),
articles by `extract_file()`. The table gives the wall time and the peak resident memory of
that process (its VmHWM, so the interpreter and its imports, about 100 MB, are in it), and
what came out. tests/test_hostile.py runs the same classes small.

Images at Pillow's pixel limit (89,478,485 pixels: 9,459 × 9,459):
    png16      a 16-bit greyscale PNG
    rgba       an 8-bit RGBA PNG (composited on white)
    rgb-png    an 8-bit RGB PNG
    jpeg       a baseline JPEG (decoded in draft, at 1/4)
    jpeg-prog  a progressive JPEG (libjpeg keeps every coefficient of it)
    scans      a progressive JPEG of MAX_JPEG_SCANS scans, as many as are decoded
    scans-over 100,000 scans (1,024 px): refused unread
Articles:
    deep-html  an HTML page of 1,000,000 nested elements (22 MB)
    tags       64 MiB of a text corpus's unclosed <image> tags
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SIDE = 9459  # 9,459² = 89,473,681 pixels: just under Pillow's limit
CLASSES = ("png16", "rgba", "rgb-png", "jpeg", "jpeg-prog", "scans", "scans-over")
ARTICLES = ("deep-html", "tags")


def _picture(mode: str):
    """A smooth SIDE×SIDE picture with a little noise (compresses fast, hashes as a photo)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    ramp = np.linspace(0, 1, SIDE, dtype=np.float32)
    base = np.add.outer(ramp, ramp) / 2
    if mode == "I;16":
        return Image.fromarray((base * 65000).astype(np.uint16))
    channels = [(base * 255).astype(np.uint8) for _ in range(4)]
    channels[1] = np.flipud(channels[1])
    channels[2] = (channels[2] ^ rng.integers(0, 8, (SIDE, SIDE), dtype=np.uint8)).astype(np.uint8)
    image = Image.fromarray(np.dstack(channels), "RGBA")
    return image if mode == "RGBA" else image.convert("RGB")


def make(name: str, work: Path) -> Path:
    """The input of class `name` under `work` (made once)."""
    suffix = {"deep-html": ".html", "tags": ".txt"}.get(name, ".png" if "png" in name else ".jpg")
    path = work / f"{name}{suffix}"
    if path.exists():
        return path
    work.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    if name == "png16":
        _picture("I;16").save(tmp, "PNG", compress_level=1)
    elif name == "rgba":
        _picture("RGBA").save(tmp, "PNG", compress_level=1)
    elif name == "rgb-png":
        _picture("RGB").save(tmp, "PNG", compress_level=1)
    elif name in ("jpeg", "jpeg-prog"):
        _picture("RGB").save(tmp, "JPEG", quality=90, progressive=name == "jpeg-prog")
    elif name in ("scans", "scans-over"):
        from media_catalog.fingerprint import MAX_JPEG_SCANS
        from tests.hostile import many_scans

        scans = MAX_JPEG_SCANS - 10 if name == "scans" else 100_000  # (10: its own)
        tmp.write_bytes(many_scans(SIDE if name == "scans" else 1024, scans))
    elif name == "deep-html":
        depth = 500_000
        tmp.write_text(
            "<body>" + "<div><span>" * depth + '<img src="a.jpg">' + "</span></div>" * depth
        )
    else:
        chunk = f'<image>data:image/s3,"s3://crabby-images/3fd1b/{"0" * 40}" alt="x" '
        tmp.write_text("text " + chunk * ((64 << 20) // len(chunk) - 1))
    tmp.rename(path)
    return path


def run_one(name: str, path: Path) -> dict:
    """Handle the input in this process; what came out."""
    if name in ARTICLES:
        from media_catalog.extract import extract_file

        articles = list(extract_file(path, "html" if name == "deep-html" else "text"))
        refs = sum(len(a.refs) for a in articles)
        errors = Counter(e.code for a in articles for e in a.errors)
        found = ", ".join(f"{n:,} {code}" for code, n in errors.items())
        return {"out": f"{refs:,} references" + (f", errors: {found}" if errors else "")}
    from media_catalog.errors import FingerprintError
    from media_catalog.fingerprint import fingerprint

    try:
        made = fingerprint(path.read_bytes(), str(path))
    except FingerprintError as exc:
        return {"out": f"error {exc.code}"}
    return {"out": f"{made.width}×{made.height} {made.format}, decode {made.decode}"}


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM: its own, unlike getrusage, which counts
    the process it was forked from)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def measure(name: str, path: Path) -> dict:
    """Run the class in a fresh process: its wall time and peak memory."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", name, str(path)], capture_output=True, check=False
    )
    wall = time.perf_counter() - start
    if done.returncode:
        return {"out": f"exit status {done.returncode}", "wall": wall, "peak_mb": float("nan")}
    return {**json.loads(done.stdout), "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=CLASSES + ARTICLES, action="append")
    parser.add_argument("--work", type=Path, default=Path("/tmp/media-catalog-hostile"))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, path = args.child
        print(json.dumps({**run_one(name, Path(path)), "peak_mb": peak_mb()}))
        return
    names = args.only or [*CLASSES, *ARTICLES]
    print(f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"- command: `python benchmarks/hostile.py{' --only ' if args.only else ''}"
        f"{' --only '.join(args.only or [])}`\n"
    )
    print("| class | input | wall s | peak MB | outcome |")
    print("|---|---:|---:|---:|---|")
    for name in names:
        path = make(name, args.work)
        found = measure(name, path)
        size = path.stat().st_size / 1e6
        print(
            f"| {name} | {size:,.1f} MB | {found['wall']:.2f} | {found['peak_mb']:,.0f} "
            f"| {found['out']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
