"""Where a photo's fingerprint spends its CPU, against the decoder's floor.

Run from the repository root (scikit-image and scikit-learn are needed for the photographs
their wheels ship, as in benchmarks/fingerprint.py):

    python benchmarks/breakdown.py --set photos --limit 200
    python benchmarks/breakdown.py --set grainy --limit 200

The photo sets are benchmarks/fingerprint.py's (`photos`, and `grainy`: harder to decode),
made once under /tmp, deterministically.

For each photo, in one process, each step is timed alone (CPU time, best of 3 runs): the
decoder at the scale the fingerprint uses (Pillow's draft: libjpeg's DCT scaling at 1/4,
luminance only), at 1/8 (entropy decoding of every coefficient still happens at any scale:
this is the floor no scale avoids), and in full; then each step after the decode (grey and
upright, the shrinks and the ten hashes, SHA-256, EXIF, IPTC/XMP, pickling the result as a
worker ships it), and the whole `fingerprint()`. Output is Markdown on stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import io
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

fp = importlib.import_module("media_catalog.fingerprint")  # (the module, not the function)
from media_catalog.metadata import read_embedded, read_exif  # noqa: E402

# benchmarks/fingerprint.py: its corpus and helpers (a script, so loaded by path)
_spec = importlib.util.spec_from_file_location("bench", Path(__file__).parent / "fingerprint.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _cpu(step: Callable[[], object], repeat: int = 3) -> float:
    """The least CPU seconds of `repeat` runs of `step`."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        step()
        best = min(best, time.process_time() - started)
    return best


def _decoded(data: bytes, scale: int | None) -> Image.Image:
    """The image decoded as the fingerprint decodes it, at 1/`scale` (None: in full)."""
    image = Image.open(io.BytesIO(data))
    if scale is not None:
        image.draft("L", (image.width // scale, image.height // scale))
    image.load()
    return image


def steps(data: bytes) -> dict[str, float]:
    """CPU seconds of each step for one photo's bytes."""
    drafted = _decoded(data, fp.DRAFT_SCALE)
    grey = fp._grey(drafted)
    found = fp.fingerprint(data)
    with Image.open(io.BytesIO(data)) as opened:  # (read_embedded reads what open parsed)
        return {
            "decode 1/8 (entropy floor)": _cpu(lambda: _decoded(data, 8)),
            "decode 1/4 (as used)": _cpu(lambda: _decoded(data, fp.DRAFT_SCALE)),
            "decode full": _cpu(lambda: _decoded(data, None), repeat=1),
            "grey, upright": _cpu(lambda: fp._grey(drafted)),
            "shrinks + ten hashes": _cpu(lambda: fp._hashes(grey, exact=False)),
            "SHA-256": _cpu(lambda: hashlib.sha256(data).hexdigest()),
            "EXIF": _cpu(lambda: read_exif(data)),
            "IPTC/XMP": _cpu(lambda: read_embedded(opened)),
            "ship (pickle)": _cpu(lambda: pickle.dumps(found)),
            "fingerprint() whole": _cpu(lambda: fp.fingerprint(data)),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", choices=tuple(bench.SETS), default="photos")
    parser.add_argument("--limit", type=int, default=200, help="photos to time")
    args = parser.parse_args()
    files = bench.make_corpus(args.limit, args.set)
    totals: dict[str, float] = {}
    pixels = []
    for path in files:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            pixels.append(image.width * image.height)
        for name, seconds in steps(data).items():
            totals[name] = totals.get(name, 0.0) + seconds
    count = len(files)
    floor = totals["decode 1/8 (entropy floor)"]
    used = totals["decode 1/4 (as used)"]
    print(f"Machine: {bench._versions()}")
    print(f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"Load: `{bench._uptime()}`\n")
    megapixels = np.array(pixels) / 1e6
    print(
        f"Set `{args.set}`: {count} JPEG photos, {megapixels.min():.1f}-{megapixels.max():.1f} "
        f"MP (median {np.median(megapixels):.1f}).\n"
    )
    print("| step | CPU ms per photo | × entropy floor | × decode at 1/4 |")
    print("|---|---:|---:|---:|")
    for name, seconds in totals.items():
        ms = 1000 * seconds / count
        print(f"| {name} | {ms:.2f} | {seconds / floor:.2f} | {seconds / used:.2f} |")


if __name__ == "__main__":
    main()
