"""Where should the near-duplicate Hamming threshold for 64-bit pHash be, and should dHash confirm?

Run from the repository root (nothing to install beyond the project's own dependencies plus
scikit-image, whose wheel ships the photographs used here; no network access is needed):

    python benchmarks/threshold.py

It builds an evaluation set in memory from the images bundled in `skimage/data`, plus
non-overlapping quadrant crops of the larger ones, makes the variants that reuse really
produces, fingerprints every file with the project's own `media_catalog.fingerprint.fingerprint`
(EXIF orientation, alpha on white, then imagehash pHash/dHash), and prints Markdown tables:

1. pHash distance histograms (0..32, >32) per transformation and for different-photo pairs;
2. pairwise precision/recall for pHash <= T, T = 4..16, alone and with dHash <= T_d confirming;
3. the recommended default (largest T, T_d with no different-photo pair matched that maximises
   recall on the reuse transformations), its per-transformation recall and its margin;
4. stress checks that are not part of that rule: every file against every file of another
   original, the LFW face crops bundled with skimage, and synthetic blank images.

The output is deterministic (fixed seeds, no timing in stdout); the run time goes to stderr.
"""

from __future__ import annotations

import io
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from itertools import combinations
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from media_catalog.fingerprint import fingerprint  # noqa: E402

try:
    import skimage
except ImportError:  # pragma: no cover - environment guard
    sys.exit("scikit-image is needed for its bundled photographs: pip install scikit-image")

DATA = Path(skimage.__file__).resolve().parent / "data"

# Files shipped inside the scikit-image wheel (read directly: no pooch, no network).
# name -> file; RGBA images are composited on white to make an ordinary opaque original.
SOURCES: dict[str, str] = {
    "astronaut": "astronaut.png",
    "brick": "brick.png",
    "camera": "camera.png",
    "cell": "cell.png",
    "chelsea": "chelsea.png",
    "checkerboard": "chessboard_GRAY.png",
    "clock": "clock_motion.png",
    "coffee": "coffee.png",
    "coins": "coins.png",
    "colorwheel": "color.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "horse": "horse.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "immunohistochemistry": "ihc.png",
    "logo": "logo.png",
    "microaneurysms": "microaneurysms.png",
    "moon": "moon.png",
    "motorcycle_left": "motorcycle_left.png",
    "motorcycle_right": "motorcycle_right.png",
    "page": "page.png",
    "phantom": "phantom.png",
    "retina": "retina.jpg",
    "rocket": "rocket.jpg",
    "text": "text.png",
}
# Sources large enough (shorter side >= 400 px) to also give four non-overlapping quadrant
# crops as extra, different originals. motorcycle_right is left out: its quadrants would be
# stereo twins of motorcycle_left's.
QUADRANT_SOURCES = [
    "astronaut",
    "brick",
    "camera",
    "cell",
    "coffee",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "logo",
    "moon",
    "motorcycle_left",
    "retina",
    "rocket",
]
# Near-blank / flat originals (the riskiest for any perceptual hash): labelled for the report.
FLAT = {"cell", "clock", "moon", "microaneurysms"} | {
    f"{name}_q{i}" for name in ("cell", "moon") for i in range(4)
}
TEXTLIKE = {"page", "text"}

ORIGINAL_QUALITY = 95  # an original is a newsroom-quality JPEG of the bundled pixels
DERIVED_QUALITY = 85  # what a CMS writes for resized / edited derivatives

REUSE = [
    "jpeg_q75",
    "jpeg_q30",
    "jpeg_q10",
    "resize_50",
    "resize_25",
    "thumb_160",
    "png",
    "webp",
    "bright_+20",
    "contrast_-20",
    "grayscale",
    "watermark",
]
GEOMETRIC = ["crop_90", "mirror", "rotate_3", "letterbox"]
TRANSFORMS = REUSE + GEOMETRIC
THRESHOLDS = range(4, 17)
DHASH_CONFIRM = [6, 8, 10, 12, 14, 16, 20]
HIST_MAX = 32


@dataclass
class Original:
    name: str
    image: Image.Image  # decoded pixels of the original file (mode L or RGB)
    data: bytes  # the original file (JPEG q95)
    parent: str | None  # the full image a quadrant was cut from


def _encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _jpeg(image: Image.Image, quality: int = DERIVED_QUALITY) -> bytes:
    return _encode(image, "JPEG", quality=quality)


def _opaque(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("L" if image.mode in ("1", "L", "I", "I;16", "F") else "RGB")


def _make_original(name: str, pixels: Image.Image, parent: str | None) -> Original:
    data = _jpeg(pixels, ORIGINAL_QUALITY)
    with Image.open(io.BytesIO(data)) as decoded:
        decoded.load()
        return Original(name, decoded.copy(), data, parent)


def load_originals() -> list[Original]:
    originals = []
    for name, filename in SOURCES.items():
        with Image.open(DATA / filename) as image:
            image.load()
            pixels = _opaque(image)
        originals.append(_make_original(name, pixels, None))
        if name in QUADRANT_SOURCES:
            w, h = pixels.size
            boxes = [
                (0, 0, w // 2, h // 2),
                (w // 2, 0, w, h // 2),
                (0, h // 2, w // 2, h),
                (w // 2, h // 2, w, h),
            ]
            for i, box in enumerate(boxes):
                originals.append(_make_original(f"{name}_q{i}", pixels.crop(box), name))
    return originals


def _resize(image: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _watermark(image: Image.Image) -> Image.Image:
    """A credit line in the bottom-right corner: 1/14 of the height, at most 45 % of the width."""
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    text = "© Example News 2024"
    size = max(8, out.height // 14)
    while True:
        font = ImageFont.load_default(size=size)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font, stroke_width=1)
        if right - left <= 0.45 * out.width or size <= 8:
            break
        size -= 1
    margin = max(2, out.width // 50)
    xy = (out.width - (right - left) - margin, out.height - (bottom - top) - margin)
    draw.text(xy, text, font=font, fill=(255, 255, 255), stroke_width=1, stroke_fill=(0, 0, 0))
    return out


def _crop90(image: Image.Image) -> Image.Image:
    w, h = image.size
    dx, dy = round(w * 0.05), round(h * 0.05)
    return image.crop((dx, dy, w - dx, h - dy))


def _letterbox(image: Image.Image) -> Image.Image:
    w, h = image.size
    bar = round(h * 0.125)
    fill = 0 if image.mode == "L" else (0, 0, 0)
    canvas = Image.new(image.mode, (w, h + 2 * bar), fill)
    canvas.paste(image, (0, bar))
    return canvas


def _rotate3(image: Image.Image) -> Image.Image:
    fill = 255 if image.mode == "L" else (255, 255, 255)
    return image.rotate(3, resample=Image.Resampling.BICUBIC, fillcolor=fill)


def _thumb(image: Image.Image) -> Image.Image:
    thumb = image.copy()
    thumb.thumbnail((160, 160), Image.Resampling.LANCZOS)
    return thumb


def make_variant(original: Original, transform: str) -> bytes:
    im = original.image
    match transform:
        case "jpeg_q75" | "jpeg_q30" | "jpeg_q10":
            return _jpeg(im, int(transform.removeprefix("jpeg_q")))
        case "resize_50":
            return _jpeg(_resize(im, 0.5))
        case "resize_25":
            return _jpeg(_resize(im, 0.25))
        case "thumb_160":
            return _jpeg(_thumb(im))
        case "png":
            return _encode(im, "PNG")
        case "webp":
            return _encode(im, "WEBP", quality=80, method=4)
        case "bright_+20":
            return _jpeg(ImageEnhance.Brightness(im).enhance(1.2))
        case "contrast_-20":
            return _jpeg(ImageEnhance.Contrast(im).enhance(0.8))
        case "grayscale":
            return _jpeg(im.convert("L"))
        case "watermark":
            return _jpeg(_watermark(im))
        case "crop_90":
            return _jpeg(_crop90(im))
        case "mirror":
            return _jpeg(ImageOps.mirror(im))
        case "rotate_3":
            return _jpeg(_rotate3(im))
        case "letterbox":
            return _jpeg(_letterbox(im))
    raise ValueError(transform)


def lfw_faces() -> list[bytes]:
    """Supplementary hard negatives: the 200 tiny (25x25) LFW crops, upscaled to 100x100."""
    faces = np.load(DATA / "lfw_subset.npy")
    out = []
    for face in faces:
        image = Image.fromarray(np.round(face * 255).astype(np.uint8), "L")
        out.append(_jpeg(image.resize((100, 100), Image.Resampling.BICUBIC), ORIGINAL_QUALITY))
    return out


# ---------------------------------------------------------------- reporting helpers


def _table(header: list[str], rows: list[list[object]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    marks = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _hist(distances: list[int]) -> list[int]:
    counts = [0] * (HIST_MAX + 2)
    for d in distances:
        counts[min(d, HIST_MAX + 1)] += 1
    return counts


def _pct(num: int, den: int) -> str:
    return f"{100 * num / den:.1f}%" if den else "n/a"


def _prec(tp: int, fp: int) -> str:
    return f"{tp / (tp + fp):.4f}" if tp + fp else "n/a"


def _popcount_matrix(values: np.ndarray) -> np.ndarray:
    return np.bitwise_count(values[:, None] ^ values[None, :]).astype(np.int16)


def main() -> None:
    started = time.perf_counter()
    originals = load_originals()
    names = [o.name for o in originals]
    prints = {o.name: fingerprint(o.data, o.name) for o in originals}

    # true pairs: (transform, original, pHash distance, dHash distance)
    true_pairs: list[tuple[str, str, int, int]] = []
    variant_prints = []  # (original, transform, Fingerprint) for the all-images check
    for o in originals:
        for t in TRANSFORMS:
            fp = fingerprint(make_variant(o, t), f"{o.name}:{t}")
            variant_prints.append((o.name, t, fp))
            true_pairs.append(
                (t, o.name, prints[o.name].phash - fp.phash, prints[o.name].dhash - fp.dhash)
            )

    # different-photo pairs: every pair of different originals, except a full image with one of
    # its own quadrants (they share pixels, so "different photo" is not a fair label there).
    parent = {o.name: o.parent for o in originals}
    negatives: list[tuple[str, str, int, int]] = []
    overlapping: list[tuple[str, str, int, int]] = []
    for a, b in combinations(names, 2):
        pair = (a, b, prints[a].phash - prints[b].phash, prints[a].dhash - prints[b].dhash)
        (overlapping if parent[a] == b or parent[b] == a else negatives).append(pair)

    reuse_pairs = [p for p in true_pairs if p[0] in REUSE]
    geo_pairs = [p for p in true_pairs if p[0] in GEOMETRIC]

    out: list[str] = []
    say = out.append
    say("# pHash / dHash near-duplicate threshold benchmark\n")
    say("- command: `python benchmarks/threshold.py`")
    say(
        f"- machine: {platform.machine()}, Python {platform.python_version()}, "
        f"Pillow {metadata.version('pillow')}, ImageHash {metadata.version('ImageHash')}, "
        f"numpy {np.__version__}, scikit-image {skimage.__version__}"
    )
    n_flat = sum(n in FLAT for n in names)
    say(
        f"- originals: {len(originals)} ({len(SOURCES)} bundled skimage images + "
        f"{len(originals) - len(SOURCES)} quadrant crops; {n_flat} near-blank/flat, "
        f"{len(TEXTLIKE)} text pages), each stored as JPEG q{ORIGINAL_QUALITY}"
    )
    say(
        f"- true pairs: {len(true_pairs)} ({len(reuse_pairs)} reuse over {len(REUSE)} "
        f"transformations, {len(geo_pairs)} geometric over {len(GEOMETRIC)}, reported apart)"
    )
    say(
        f"- different-photo pairs: {len(negatives)} (all pairs of different originals; "
        f"{len(overlapping)} full-image/own-quadrant pairs excluded and reported apart)"
    )
    say(
        f"- derived variants are re-encoded as JPEG q{DERIVED_QUALITY} unless the "
        "transformation is itself an encoding (jpeg_qN, png, webp q80)\n"
    )

    # 1. histograms --------------------------------------------------------------
    say("## 1. pHash distance histograms\n")
    say(
        "Counts per Hamming distance (64-bit pHash) between an original and its variant, "
        "and between two different originals. `>32` collects everything above 32.\n"
    )
    header = ["pairs", "n", *[str(d) for d in range(HIST_MAX + 1)], ">32"]
    rows = []
    for t in TRANSFORMS:
        ds = [p[2] for p in true_pairs if p[0] == t]
        label = t if t in REUSE else f"{t} (geometric)"
        rows.append([label, len(ds), *_hist(ds)])
    rows.append(["**all reuse**", len(reuse_pairs), *_hist([p[2] for p in reuse_pairs])])
    rows.append(["**different photos**", len(negatives), *_hist([p[2] for p in negatives])])
    say(_table(header, rows))
    say("")

    say("Summary per group (pHash and dHash distance: min / median / max):\n")
    rows = []
    for t in TRANSFORMS:
        ph = [p[2] for p in true_pairs if p[0] == t]
        dh = [p[3] for p in true_pairs if p[0] == t]
        rows.append(
            [
                t,
                f"{min(ph)} / {statistics.median(ph):g} / {max(ph)}",
                f"{min(dh)} / {statistics.median(dh):g} / {max(dh)}",
            ]
        )
    for label, group in (
        ("different photos", negatives),
        (
            "different photos, both near-blank/flat",
            [p for p in negatives if p[0] in FLAT and p[1] in FLAT],
        ),
        (
            "different photos, involving a text page",
            [p for p in negatives if p[0] in TEXTLIKE or p[1] in TEXTLIKE],
        ),
        (
            "different photos, quadrants of the same image",
            [p for p in negatives if parent[p[0]] and parent[p[0]] == parent[p[1]]],
        ),
        (
            "motorcycle_left vs motorcycle_right (stereo pair)",
            [p for p in negatives if {p[0], p[1]} == {"motorcycle_left", "motorcycle_right"}],
        ),
        ("full image vs its own quadrant (excluded)", overlapping),
    ):
        ph, dh = [p[2] for p in group], [p[3] for p in group]
        rows.append(
            [
                f"{label} (n={len(group)})",
                f"{min(ph)} / {statistics.median(ph):g} / {max(ph)}",
                f"{min(dh)} / {statistics.median(dh):g} / {max(dh)}",
            ]
        )
    say(_table(["group", "pHash", "dHash"], rows))
    say("")
    closest = sorted(negatives, key=lambda p: (p[2], p[3], p[0], p[1]))[:8]
    say("Closest different-photo pairs by pHash:\n")
    say(_table(["a", "b", "pHash", "dHash"], [list(p) for p in closest], "llrr"))
    say("")

    # 2. precision / recall ------------------------------------------------------
    def score(t: int, td: int | None, pairs):
        return sum(1 for p in pairs if p[2] <= t and (td is None or p[3] <= td))

    say("## 2. Pairwise precision and recall\n")
    say(
        "A pair is matched when pHash distance <= T (and, where given, dHash distance <= T_d). "
        "Recall is over the true pairs; precision = matched reuse pairs / (matched reuse pairs "
        "+ matched different-photo pairs). FP = different-photo pairs matched.\n"
    )
    say("### pHash alone\n")
    rows = []
    for t in THRESHOLDS:
        tp, fp = score(t, None, reuse_pairs), score(t, None, negatives)
        rows.append(
            [
                t,
                tp,
                len(reuse_pairs) - tp,
                fp,
                _prec(tp, fp),
                _pct(tp, len(reuse_pairs)),
                _pct(score(t, None, geo_pairs), len(geo_pairs)),
            ]
        )
    say(
        _table(
            [
                "T",
                "TP (reuse)",
                "FN (reuse)",
                "FP",
                "precision",
                "recall reuse",
                "recall geometric",
            ],
            rows,
        )
    )
    say("")
    say("### pHash <= T and dHash <= T_d\n")
    say("Cell: recall on reuse / precision (FP).\n")
    rows = []
    for t in THRESHOLDS:
        row: list[object] = [t]
        for td in [None, *DHASH_CONFIRM]:
            tp, fp = score(t, td, reuse_pairs), score(t, td, negatives)
            row.append(f"{_pct(tp, len(reuse_pairs))} / {_prec(tp, fp)} ({fp})")
        rows.append(row)
    say(_table(["T", "pHash only", *[f"T_d = {td}" for td in DHASH_CONFIRM]], rows))
    say("")

    # all-files matrices: every file (originals and all variants) against every file made from a
    # different original, as a catalogue would see them; and the LFW faces among themselves.
    files = [(o.name, "original", prints[o.name]) for o in originals] + variant_prints
    owner = np.array([names.index(f[0]) for f in files])
    root = np.array([names.index(parent[f[0]] or f[0]) for f in files])
    dp = _popcount_matrix(np.array([f[2].phash.value for f in files], dtype=np.uint64))
    dd = _popcount_matrix(np.array([f[2].dhash.value for f in files], dtype=np.uint64))
    for i, j in ((0, 1), (0, len(files) - 1), (5, 700)):  # numpy agrees with the project's `-`
        assert dp[i, j] == files[i][2].phash - files[j][2].phash
        assert dd[i, j] == files[i][2].dhash - files[j][2].dhash
    upper = np.triu(np.ones_like(dp, dtype=bool), 1)
    own_quadrant = (root[:, None] == root[None, :]) & (
        (owner[:, None] == root[None, :]) | (owner[None, :] == root[:, None])
    )
    diff = upper & (owner[:, None] != owner[None, :]) & ~own_quadrant
    stereo = ("motorcycle_left", "motorcycle_right")
    is_stereo = np.isin(owner, [names.index(n) for n in stereo])
    stereo_files = diff & is_stereo[:, None] & is_stereo[None, :]
    diff_all = diff & ~stereo_files
    reuse_file = np.array([f[1] == "original" or f[1] in REUSE for f in files])
    diff_reuse = diff_all & reuse_file[:, None] & reuse_file[None, :]

    faces = [fingerprint(data, f"lfw{k}") for k, data in enumerate(lfw_faces())]
    fdp = _popcount_matrix(np.array([f.phash.value for f in faces], dtype=np.uint64))
    fdd = _popcount_matrix(np.array([f.dhash.value for f in faces], dtype=np.uint64))
    face_pairs = np.triu(np.ones_like(fdp, dtype=bool), 1)

    def hits(mask, p, d, t, td) -> int:
        return int((mask & (p <= t) & ((d <= td) if td is not None else True)).sum())

    # 3. recommendation ----------------------------------------------------------
    no_stereo = [p for p in negatives if {p[0], p[1]} != set(stereo)]

    def best(negs, alone_only=False, strict=False):
        """(reuse TP, T, T_d sort key, T_d) of the best zero-FP setting, or None."""
        found = [
            (score(t, td, reuse_pairs), t, 99 if td is None else td, td)
            for t in THRESHOLDS
            for td in ([None] if alone_only else [None, *DHASH_CONFIRM])
            if score(t, td, negs) == 0
            and not (
                strict and (hits(diff_all, dp, dd, t, td) or hits(face_pairs, fdp, fdd, t, td))
            )
        ]
        # T_d None (no confirmation) sorts as the loosest T_d, so it wins a tie
        return max(found) if found else None

    def rule_text(t, td):
        return f"pHash <= {t}" + ("" if td is None else f" and dHash <= {td}")

    def recall_text(tp):
        return f"{_pct(tp, len(reuse_pairs))} ({tp}/{len(reuse_pairs)})"

    say("## 3. Recommendation\n")
    say(
        f"Grid: T = {THRESHOLDS[0]}..{THRESHOLDS[-1]}, T_d in {{none, "
        f"{', '.join(map(str, DHASH_CONFIRM))}}}. Rule: among settings with precision 1.0 "
        "(zero different-photo pairs matched), maximise reuse recall, then take the largest T, "
        "then the largest T_d (no confirmation counts as the largest). The last two rows also "
        "require zero matches in the stress checks of section 4 (all files, LFW faces).\n"
    )
    rec = best(negatives)
    strict = best(negatives, strict=True)
    rows = []
    for label, b in (
        ("different originals (the brief's set)", rec),
        ("different originals, pHash only", best(negatives, alone_only=True)),
        ("different originals, stereo pair not counted", best(no_stereo)),
        (
            "different originals, stereo pair not counted, pHash only",
            best(no_stereo, alone_only=True),
        ),
        ("+ all-files and LFW stress checks", strict),
        (
            "+ all-files and LFW stress checks, pHash only",
            best(negatives, alone_only=True, strict=True),
        ),
    ):
        if b is None:
            rows.append([label, "none in the grid", "-", "-"])
        else:
            rows.append(
                [
                    label,
                    rule_text(b[1], b[3]),
                    recall_text(b[0]),
                    _pct(score(b[1], b[3], geo_pairs), len(geo_pairs)),
                ]
            )
    say(_table(["negatives", "best zero-FP setting", "reuse recall", "geometric recall"], rows))
    say("")
    if rec is None:
        say("No setting in the grid matches zero different-photo pairs.\n")
        print("\n".join(out))
        return
    best_recall, best_t, _, best_td = rec
    rule = rule_text(best_t, best_td)
    say(
        f"**Default by the rule: {rule}** — precision 1.0, reuse recall "
        f"{recall_text(best_recall)}.\n"
    )

    def matched(p, t=best_t, td=best_td):
        return p[2] <= t and (td is None or p[3] <= td)

    columns = [(best_t, best_td), (best_t, None)]
    if strict and (strict[1], strict[3]) not in columns:
        columns.append((strict[1], strict[3]))
    rows = []
    for t in TRANSFORMS:
        group = [p for p in true_pairs if p[0] == t]
        row: list[object] = [t if t in REUSE else f"{t} (geometric)", len(group)]
        for ct, ctd in columns:
            hit = sum(matched(p, ct, ctd) for p in group)
            row.append(f"{_pct(hit, len(group))} ({hit})")
        rows.append(row)
    for label, group in (("**all reuse**", reuse_pairs), ("**all geometric**", geo_pairs)):
        row = [label, len(group)]
        for ct, ctd in columns:
            hit = sum(matched(p, ct, ctd) for p in group)
            row.append(f"{_pct(hit, len(group))} ({hit})")
        rows.append(row)
    say("Recall per transformation:\n")
    say(_table(["transformation", "n", *[rule_text(*c) for c in columns]], rows))
    say("")
    missed = sorted((p for p in reuse_pairs if not matched(p)), key=lambda p: (p[0], p[1]))
    if missed:
        say(f"Reuse pairs missed by {rule} (transformation, original, pHash, dHash):\n")
        say(
            _table(
                ["transformation", "original", "pHash", "dHash"], [list(p) for p in missed], "llrr"
            )
        )
        say("")

    min_neg = min(negatives, key=lambda p: (p[2], p[3], p[0], p[1]))
    min_ns = min(no_stereo, key=lambda p: (p[2], p[3], p[0], p[1]))
    say(
        f"- Margin in pHash alone: the closest different-photo pair is {min_neg[0]} vs "
        f"{min_neg[1]} at pHash {min_neg[2]} (dHash {min_neg[3]}); without the stereo pair, "
        f"{min_ns[0]} vs {min_ns[1]} at pHash {min_ns[2]}, {min_ns[2] - best_t} above "
        f"T = {best_t}."
    )
    if best_td is not None:
        box = min(negatives, key=lambda p: (max(p[2] - best_t, p[3] - best_td), p[0], p[1]))
        gap = max(box[2] - best_t, box[3] - best_td)
        near = [p for p in negatives if p[2] <= best_t + 4]
        say(
            f"- With dHash confirming, the different-photo pair nearest to the accepting region "
            f"is {box[0]} vs {box[1]} (pHash {box[2]}, dHash {box[3]}): {gap} bit(s) outside "
            f"it (the larger of pHash - {best_t} and dHash - {best_td}). The {len(near)} "
            f"different-photo pairs within 4 bits of T in pHash all have dHash >= "
            f"{min(p[3] for p in near)}."
        )
    say(
        "- pHash distances are almost always even: imagehash thresholds 64 DCT coefficients at "
        "their median, so a non-degenerate pHash has exactly 32 bits set "
        f"({sum(f[2].phash.value.bit_count() == 32 for f in files)} of {len(files)} files "
        "here); odd T therefore behaves like T - 1.\n"
    )

    # 4. stress checks -------------------------------------------------------------
    say("## 4. Stress checks (not part of the brief's rule)\n")
    even = [t for t in THRESHOLDS if t % 2 == 0]
    for title, mask, p, d, note in (
        (
            "All files, reuse variants only",
            diff_reuse,
            dp,
            dd,
            "originals and their reuse variants, every file against every file of a different "
            "original (full image vs its own quadrants and the stereo pair excluded)",
        ),
        (
            "All files, geometric variants included",
            diff_all,
            dp,
            dd,
            "as above plus the crop/mirror/rotate/letterbox variants (rotated and letterboxed "
            "files share white corners / black bars; a mirrored quadrant of the near-symmetric "
            "retina looks like its sibling quadrant)",
        ),
        (
            "LFW faces",
            face_pairs,
            fdp,
            fdd,
            "the 200 tiny (25x25) tightly aligned LFW crops in skimage's data, upscaled to "
            "100x100: different people (and non-face patches) in identical framing, the "
            "passport-photo worst case",
        ),
    ):
        say(f"### {title}\n")
        say(f"{note}: {int(mask.sum())} pairs. Cell: pairs matched.\n")
        rows = [[t, *[hits(mask, p, d, t, td) for td in [None, *DHASH_CONFIRM]]] for t in even]
        say(_table(["T", "pHash only", *[f"T_d = {td}" for td in DHASH_CONFIRM]], rows))
        i, j = np.unravel_index(np.where(mask, p * 100 + d, 1 << 14).argmin(), p.shape)
        if p is dp:
            who = f"{files[i][0]}:{files[i][1]} vs {files[j][0]}:{files[j][1]}"
        else:
            who = f"LFW #{i} vs #{j}"
        say(f"\nClosest pair by pHash: {who} at pHash {p[i, j]}, dHash {d[i, j]}.\n")
    say(
        f"Stereo pair (motorcycle_left/right and their variants, {int(stereo_files.sum())} file "
        f"pairs): {hits(stereo_files, dp, dd, best_t, None)} matched by pHash <= {best_t}, "
        f"{hits(stereo_files, dp, dd, best_t, best_td)} by {rule}.\n"
    )

    say("### Degenerate flat images\n")
    say(
        "Synthetic uniform and smooth images (not photographs; JPEG q95): every image with no "
        "texture hashes to the same pHash (`8000000000000000`, or 0 for black) and dHash, so "
        "no threshold separates them; faint noise makes the hash random instead.\n"
    )
    flats = synthetic_flats()
    flat_prints = {k: fingerprint(v, k) for k, v in flats.items()}
    keys = list(flat_prints)
    rows = [
        [
            k,
            str(flat_prints[k].phash),
            flat_prints[k].phash.value.bit_count(),
            str(flat_prints[k].dhash),
            " ".join(f"{flat_prints[k].phash - flat_prints[o].phash}" for o in keys),
        ]
        for k in keys
    ]
    say(
        _table(
            ["image", "pHash", "bits set", "dHash", "pHash distance to " + " / ".join(keys)],
            rows,
            "llrll",
        )
    )
    say("")

    print("\n".join(out))
    print(f"[threshold.py: {time.perf_counter() - started:.1f} s]", file=sys.stderr)


def synthetic_flats() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    w, h = 400, 300
    arrays = {
        "white": np.full((h, w), 255.0),
        "grey": np.full((h, w), 128.0),
        "black": np.zeros((h, w)),
        "v-gradient": np.tile(np.linspace(200, 230, h)[:, None], (1, w)),
        "white+noise": 245 + rng.normal(0, 2, (h, w)),
        "grey+noise": 128 + rng.normal(0, 2, (h, w)),
    }
    return {
        k: _jpeg(
            Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8), "L"), ORIGINAL_QUALITY
        )
        for k, a in arrays.items()
    }


if __name__ == "__main__":
    main()
