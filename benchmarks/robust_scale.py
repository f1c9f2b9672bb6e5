"""The cost of `dupes --robust` on a large catalogue (issue 19): wall time, CPU and peak
memory of the command itself, the first time (keypoints found) and again (from the cache).

Photographs by the hundred thousand cannot be shipped, so the pictures are drawn: "dead
leaves" (overlapping discs and ellipses of random colours and power-law sizes, slightly
blurred and noisy: the corner statistics of a photograph, distinct for every seed), 640x480
JPEG. Every hundredth picture also has a copy: an off-centre 70 % crop, a mirror, a 10-degree
turn or a mirrored, shrunk crop, so the report's recall at that size is measured too.

    python benchmarks/robust_scale.py --images 100000 --folder /data/robust100k

The folder keeps the pictures and the SQLite catalogue between runs (about 6 GB and 0.5 GB
at 100,000 images, plus the features cache, 4 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

COPY_EVERY = 100
COPIES = ("crop_70_off", "mirror", "rotate_10", "mirror_crop_shrunk")  # -copy0 to -copy3
JPEG_80 = [cv2.IMWRITE_JPEG_QUALITY, 80]


def leaves(seed: int) -> np.ndarray:
    """A distinct 640x480 photo-like picture for each seed."""
    rng = np.random.default_rng(seed)
    height, width = 480, 640
    picture = np.full((height, width, 3), rng.integers(0, 256, 3), np.uint8)
    radii = (4 / rng.random(400) ** 0.7).clip(3, 200)
    for radius in np.sort(radii)[::-1]:  # large leaves first, small ones on top
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if rng.random() < 0.5:
            cv2.circle(picture, centre, int(radius), colour, -1, cv2.LINE_AA)
        else:
            axes = (int(radius), int(radius * rng.uniform(0.3, 1)))
            angle = float(rng.uniform(0, 180))
            cv2.ellipse(picture, centre, axes, angle, 0, 360, colour, -1, cv2.LINE_AA)
    picture = cv2.GaussianBlur(picture, (0, 0), 0.8)
    return np.clip(picture + rng.normal(0, 4, picture.shape), 0, 255).astype(np.uint8)


def copy(picture: np.ndarray, kind: str) -> np.ndarray:
    height, width = picture.shape[:2]
    if kind == "crop_70_off":
        return picture[int(height * 0.3) :, : int(width * 0.7)]
    if kind == "mirror":
        return picture[:, ::-1]
    if kind == "rotate_10":
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), 10, 1.0)
        return cv2.warpAffine(picture, turn, (width, height), borderValue=(255, 255, 255))
    part = picture[int(height * 0.1) : int(height * 0.85), int(width * 0.2) : int(width * 0.95)]
    return cv2.resize(part[:, ::-1], None, fx=0.8, fy=0.8)


def draw(numbers: range, folder: Path) -> None:
    for number in numbers:
        sub = folder / f"{number // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"p{number:06d}.jpg"
        if path.exists():
            continue
        picture = leaves(number)
        cv2.imwrite(str(path), picture, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if number % COPY_EVERY == 0:
            kind = (number // COPY_EVERY) % len(COPIES)
            copied = copy(picture, COPIES[kind])
            cv2.imwrite(str(sub / f"p{number:06d}-copy{kind}.jpg"), copied, JPEG_80)


def measured(command: list[str]) -> tuple[str, dict[str, float]]:
    """Run `command`: its output, wall time, CPU (user and system, its workers' included)
    and peak memory (of the command's own process)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if status:
        sys.exit(f"{' '.join(command)} failed ({status})")
    return output, {
        "wall": wall,
        "user": usage.ru_utime,
        "system": usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--folder", type=Path, required=True)
    options = parser.parse_args()
    pictures, db = options.folder / "photos", options.folder / "catalogue.sqlite"
    started = time.perf_counter()
    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(workers) as pool:
        steps = range(0, options.images, 1000)
        list(
            pool.map(
                draw,
                [range(s, min(s + 1000, options.images)) for s in steps],
                [pictures] * len(steps),
            )
        )
    print(f"pictures ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    tool = [sys.executable, "-m", "media_catalog"]
    if not db.exists():
        _, scan = measured([*tool, "scan", str(pictures), "--db", str(db)])
        print(f"scan: {scan}", file=sys.stderr)
    runs = {}
    for run in ("first", "again"):
        output, runs[run] = measured([*tool, "dupes", "--robust", "--db", str(db), "-f", "json"])
        report = json.loads(output)
    found, wrong = dict.fromkeys(COPIES, 0), 0
    for cluster in report["clusters"]:
        names = {Path(image["files"][0]).stem for image in cluster["images"]}
        wrong += len({name.split("-")[0] for name in names}) > 1
        for name in names:
            original, _, kind = name.partition("-copy")
            if kind and original in names:
                found[COPIES[int(kind)]] += 1
    copies = dict.fromkeys(COPIES, 0)
    for number in range(0, options.images, COPY_EVERY):
        copies[COPIES[(number // COPY_EVERY) % len(COPIES)]] += 1
    print(
        f"- {options.images:,} pictures + {sum(copies.values())} copies; "
        f"{platform.processor() or platform.machine()}, {workers} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    print(f"- robust: {report['robust']}")
    for run, figures in runs.items():
        print(
            f"- {run}: wall {figures['wall']:.0f} s, CPU {figures['user']:.0f} s user "
            f"+ {figures['system']:.0f} s system, peak {figures['peak_mb']:.0f} MB"
        )
    print("- copies found: " + ", ".join(f"{k} {found[k]}/{copies[k]}" for k in COPIES))
    print(f"- clusters joining different pictures: {wrong}")


if __name__ == "__main__":
    main()
