"""`dupes --robust` on a catalogue full of copies (issue 19): does a crop of a photo saved
many times join the photo's cluster, and at what cost?

Drawn pictures (benchmarks/robust_scale.py's "dead leaves"), each saved five times (JPEG
quality 95, 85 and 75 at 640x480, 65 at 560x420, 60 at 480x360) and, for every tenth, a
60 % off-centre crop; scanned into an SQLite catalogue, then `media-catalog dupes --robust
-f json` with no keypoints cached.

    python benchmarks/reposted.py --photos 2000 --folder /data/reposted

To compare another checkout, put it first on PYTHONPATH and run from outside this
repository (`python -m` puts the current folder first on the path).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from robust_scale import leaves, measured

CROP_EVERY = 10
SAVES = ((95, 1.0), (85, 1.0), (75, 1.0), (65, 0.875), (60, 0.75))  # quality, scale


def draw(numbers: range, folder: Path) -> None:
    for number in numbers:
        sub = folder / f"{number // 100:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        picture = leaves(number)
        for copy, (quality, scale) in enumerate(SAVES):
            saved = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            path = sub / f"p{number:05d}-c{copy}.jpg"
            cv2.imwrite(str(path), saved, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if number % CROP_EVERY == 0:
            crop = picture[29:317, 243:627]  # 60 % of each side, off centre
            cv2.imwrite(str(sub / f"p{number:05d}-crop.jpg"), crop, [cv2.IMWRITE_JPEG_QUALITY, 80])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--folder", type=Path, required=True)
    options = parser.parse_args()
    pictures, db = options.folder / "photos", options.folder / "catalogue.sqlite"
    if not pictures.exists():
        with ProcessPoolExecutor() as pool:
            steps = range(0, options.photos, 100)
            parts = [range(s, min(s + 100, options.photos)) for s in steps]
            list(pool.map(draw, parts, [pictures] * len(parts)))
    tool = [sys.executable, "-m", "media_catalog"]
    if not db.exists():
        measured([*tool, "scan", str(pictures), "--db", str(db)])
    shutil.rmtree(f"{db}.cache", ignore_errors=True)  # no keypoints cached
    output, cost = measured([*tool, "dupes", "--robust", "--db", str(db), "-f", "json"])
    report = json.loads(output)
    joined = wrong = 0
    for cluster in report["clusters"]:
        stems = [Path(image["files"][0]).stem for image in cluster["images"]]
        wrong += len({stem.split("-")[0] for stem in stems}) > 1
        joined += any(stem.endswith("-crop") for stem in stems) and len(stems) == len(SAVES) + 1
    crops = len(range(0, options.photos, CROP_EVERY))
    print(f"- {options.photos:,} photos x {len(SAVES)} saves + {crops} crops")
    print(f"- robust: {report['robust']}")
    print(
        f"- wall {cost['wall']:.0f} s, CPU {cost['user']:.0f} s user + {cost['system']:.0f} s "
        f"system, peak {cost['peak_mb']:.0f} MB"
    )
    print(f"- crops in their photo's cluster, with all its saves: {joined} of {crops}")
    print(f"- clusters joining different pictures: {wrong}")


if __name__ == "__main__":
    main()
