"""How fast does media-catalog fingerprint JPEG photos, and may it decode them in draft mode?

Run from the repository root (scikit-image and scikit-learn are needed only for the
photographs their wheels ship; no network access is needed):

    python benchmarks/fingerprint.py            # the full run recorded in docs/benchmarks.md
    python benchmarks/fingerprint.py --limit 200  # a quick look

1. Corpus. Makes (once, deterministically) CORPUS_SIZE JPEG photos under /tmp from the
   photographs in the skimage and sklearn wheels: a random crop, maybe mirrored, resized to
   1-12 megapixels, with a little film grain, saved at quality 60-95.
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
import io
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

from media_catalog import fingerprint as fingerprint_module  # noqa: E402
from media_catalog.fingerprint import fingerprint  # noqa: E402

CORPUS = Path(tempfile.gettempdir()) / "media-catalog-bench" / "photos"
CORPUS_SIZE = 2000
DRAFT_TARGETS = (128, 256, 512)


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
    return {f.stem: Image.open(f).convert("L" if Image.open(f).mode == "L" else "RGB") for f in files}


def _grain(size: tuple[int, int], seed: int, sigma: float) -> Image.Image:
    """Film grain: one Gaussian noise tile (centred on 128) repeated over `size`."""
    tile = np.random.default_rng(seed).normal(128, sigma, (512, 512)).round().clip(0, 255)
    tile_image = Image.fromarray(tile.astype(np.uint8), "L")
    grain = Image.new("L", size)
    for y in range(0, size[1], 512):
        for x in range(0, size[0], 512):
            grain.paste(tile_image, (x, y))
    return grain


def make_photo(index: int, photos: dict[str, Image.Image]) -> bytes:
    rng = np.random.default_rng(index)
    names = sorted(photos)
    source = photos[names[index % len(names)]]
    w, h = source.size
    cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    image = source.crop((x, y, x + cw, y + ch))
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    megapixels = rng.uniform(1.0, 12.0)
    scale = (megapixels * 1e6 / (cw * ch)) ** 0.5
    size = (round(cw * scale), round(ch * scale))
    image = image.resize(size, Image.Resampling.BICUBIC)
    grain = _grain(size, index, rng.uniform(0.0, 3.0))
    if image.mode == "RGB":
        grain = Image.merge("RGB", (grain, grain, grain))
    image = ImageChops.add(image, grain, 1, -128)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=int(rng.integers(60, 96)))
    return buffer.getvalue()


def _make_range(indices: list[int]) -> int:
    photos = sources()
    for index in indices:
        path = CORPUS / f"{index:05d}.jpg"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(make_photo(index, photos))
            tmp.rename(path)
    return len(indices)


def make_corpus(count: int) -> list[Path]:
    """The corpus files 0..count-1, made where missing (in parallel, deterministically)."""
    CORPUS.mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(count) if not (CORPUS / f"{i:05d}.jpg").exists()]
    if missing:
        print(f"[making {len(missing)} photos under {CORPUS}]", file=sys.stderr)
        workers = os.cpu_count() or 1
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_make_range, [missing[k::workers] for k in range(workers)]))
    return [CORPUS / f"{i:05d}.jpg" for i in range(count)]


if __name__ == "__main__" and sys.argv[1:2] == ["--make-corpus"]:
    make_corpus(int(sys.argv[2]))
