"""How well does `media-catalog dupes` find reused photos, and does it ever join different ones?

Run from the repository root (needs scikit-image for its bundled photographs; no network):

    python benchmarks/accuracy.py

It builds on benchmarks/threshold.py (same 81 originals from the scikit-image wheel and its 16
transformations), adds the two photographs in the scikit-learn wheel (china, flower) and their
quadrants when scikit-learn is installed (91 originals), and adds the reuse threshold.py left
out: a 70 % crop, white padding (10 % each side), a copy rotated by an EXIF orientation tag, a
quarter-turned copy without the tag, and two crops no central-region view is made for (85 %
centred, and 90 % anchored at the top-left corner) to show how far those views reach. Every
file is fingerprinted by `media_catalog.fingerprint.fingerprint` and matched by the library's
own `similarity.near_pairs` (the views `dupes` compares: plain, borders trimmed, and with
`--transforms` the mirror and quarter turns), with low-information images left out as `dupes`
does. It prints Markdown:

1. per transformation: pairwise recall (original vs copy) and precision (the copy's matches
   against files of other photos count as false), for the image's own hashes only (no views),
   the default views (trimmed borders, central regions), and with `--transforms`;
2. overall pairwise precision and recall over every pair of files, and the hard negatives
   (stereo pair, quadrants of one picture, flat images, text pages) reported as duplicates;
3. the curves: precision and recall as the pHash threshold T (T = 4..16) moves, and as each
   of the other limits in media_catalog/similarity.py moves (FINE_CONFIRM, DHASH_WIDE,
   VIEW_DHASH), the rest held at their defaults.
"""

from __future__ import annotations

import io
import sys
import time
from itertools import combinations
from pathlib import Path

from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from threshold import (  # noqa: E402
    GEOMETRIC,
    REUSE,
    Original,
    _jpeg,
    _make_original,
    _table,
    load_originals,
    make_variant,
)

import media_catalog.similarity as similarity  # noqa: E402
from media_catalog.fingerprint import fingerprint  # noqa: E402
from media_catalog.similarity import (  # noqa: E402
    DEFAULT_THRESHOLD,
    DHASH_CONFIRM,
    low_information,
    near_pairs,
)

EXTRA = ["crop_70", "pad_10", "exif_rotation", "rot90", "crop_85", "crop_90_corner"]
TRANSFORMS = REUSE + GEOMETRIC + EXTRA
CURVE = range(4, 17, 2)
CURVES = {
    "FINE_CONFIRM": (0, 40, 48, 56, 64),
    "DHASH_WIDE": (8, 10, 12, 14, 16),
    "VIEW_DHASH": (4, 5, 6, 7, 8),
}
CONSTANTS = {
    "FINE_CONFIRM": "256-bit pHash bits that confirm a dHash of 9..DHASH_WIDE; 0: equal only",
    "DHASH_WIDE": "the largest dHash distance the 256-bit pHash may confirm",
    "VIEW_DHASH": "dHash limit when a central region, mirror or turn is compared",
}
MODES = {"own hashes": (False, False), "default": (True, False), "--transforms": (True, True)}


def sklearn_originals() -> list[Original]:
    """china.jpg and flower.jpg from the scikit-learn wheel, and their quadrants."""
    try:
        import sklearn
    except ImportError:
        return []
    originals = []
    for path in sorted((Path(sklearn.__file__).parent / "datasets" / "images").glob("*.jpg")):
        with Image.open(path) as image:
            pixels = image.convert("RGB")
        originals.append(_make_original(path.stem, pixels, None))
        w, h = pixels.size
        boxes = [(0, 0, w // 2, h // 2), (w // 2, 0, w, h // 2)]
        boxes += [(0, h // 2, w // 2, h), (w // 2, h // 2, w, h)]
        for i, box in enumerate(boxes):
            originals.append(_make_original(f"{path.stem}_q{i}", pixels.crop(box), path.stem))
    return originals


def extra_variant(image: Image.Image, transform: str) -> bytes:
    w, h = image.size
    match transform:
        case "crop_70" | "crop_85":
            keep = int(transform.removeprefix("crop_")) / 100
            dx, dy = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
            return _jpeg(image.crop((dx, dy, w - dx, h - dy)))
        case "crop_90_corner":
            return _jpeg(image.crop((0, 0, round(0.9 * w), round(0.9 * h))))
        case "pad_10":
            return _jpeg(ImageOps.expand(image, border=round(0.1 * min(w, h)), fill="white"))
        case "exif_rotation" | "rot90":
            turned = image.transpose(Image.Transpose.ROTATE_90)
            buffer = io.BytesIO()
            exif = Image.Exif()
            if transform == "exif_rotation":
                exif[0x0112] = 6  # "rotate 90 clockwise to display": undoes ROTATE_90
            turned.save(buffer, "JPEG", quality=85, exif=exif)
            return buffer.getvalue()
    raise ValueError(transform)


def _precision(tp: int, fp: int) -> str:
    return f"{tp / (tp + fp):.4f}" if tp + fp else "1.0000"


def main() -> None:
    started = time.perf_counter()
    originals = load_originals() + sklearn_originals()
    files: list[tuple[str, str, dict]] = []  # (original, transform or "", image dict)
    for o in originals:
        files.append((o.name, "", fingerprint(o.data, o.name).to_dict()))
        for t in TRANSFORMS:
            data = extra_variant(o.image, t) if t in EXTRA else make_variant(o, t)
            files.append((o.name, t, fingerprint(data, f"{o.name}:{t}").to_dict()))
    parent = {o.name: o.parent or o.name for o in originals}

    def related(a: str, b: str) -> bool:  # a full picture and its own quadrant share pixels
        return a != b and (parent[a] == b or parent[b] == a)

    usable = [n for n, (_, _, image) in enumerate(files) if not low_information(image)]
    views = {}
    for mode, (with_views, _) in MODES.items():
        views[mode] = [
            files[n][2] if with_views else {**files[n][2], "variants": {}} for n in usable
        ]
    index = {(o, t): n for n, (o, t, _) in enumerate(files)}

    def score(mode: str, threshold: int = DEFAULT_THRESHOLD) -> dict:
        pairs = near_pairs(views[mode], threshold, transforms=MODES[mode][1])
        matched = {(usable[a], usable[b]) for a, b in pairs}
        stats = {t: [0, 0, 0] for t in TRANSFORMS}  # true pairs, found, false matches
        for o in originals:
            for t in TRANSFORMS:
                stats[t][0] += 1
                stats[t][1] += (index[(o.name, "")], index[(o.name, t)]) in matched
        tp = fp = 0
        negatives = []
        for a, b in matched:
            (oa, ta, _), (ob, tb, _) = files[a], files[b]
            if oa == ob:
                tp += 1
            elif not related(oa, ob):
                fp += 1
                negatives.append((f"{oa}:{ta or 'original'}", f"{ob}:{tb or 'original'}"))
                for t in {ta, tb} - {""}:
                    stats[t][2] += 1
        return {"stats": stats, "tp": tp, "fp": fp, "negatives": negatives}

    positives = sum(
        1 for (a, b) in combinations(range(len(files)), 2) if files[a][0] == files[b][0]
    )
    scores = {mode: score(mode) for mode in MODES}
    print(
        f"- command: `python benchmarks/accuracy.py`; {len(originals)} originals, "
        f"{len(TRANSFORMS)} transformations, {len(files)} files, {positives} same-photo "
        f"file pairs; pHash <= {DEFAULT_THRESHOLD} and dHash <= {DHASH_CONFIRM}, or dHash <= "
        f"{similarity.DHASH_WIDE} and 256-bit pHash <= {similarity.FINE_CONFIRM}, or dHash <= "
        f"{similarity.DHASH_EXACT} and pHash <= {DEFAULT_THRESHOLD + DEFAULT_THRESHOLD // 3}; "
        f"dHash <= {similarity.VIEW_DHASH} for derived views (centres, mirrors, turns)\n"
    )
    print("#### Per transformation: recall (original vs copy) / precision\n")
    rows = []
    for t in TRANSFORMS:
        row = [t]
        for mode in MODES:
            n, found, false = scores[mode]["stats"][t]
            row.append(f"{found / n:.3f} / {_precision(found, false)[:5]}")
        rows.append(row)
    print(_table(["transformation", *MODES], rows))
    print("\n#### Overall, every pair of files\n")
    rows = []
    for mode in MODES:
        s = scores[mode]
        rows.append([mode, _precision(s["tp"], s["fp"]), f"{s['tp'] / positives:.3f}", s["fp"]])
    print(_table(["views", "precision", "recall", "different-photo pairs matched"], rows))
    for mode in MODES:
        if scores[mode]["negatives"]:
            shown = ", ".join(f"{a} ~ {b}" for a, b in sorted(scores[mode]["negatives"])[:8])
            print(f"\n- {mode}: different photos matched: {shown}")

    reuse = [*REUSE, "exif_rotation"]

    def curve_row(label: object, threshold: int = DEFAULT_THRESHOLD) -> list[object]:
        row = [label]
        for mode in ("default", "--transforms"):
            s = score(mode, threshold)
            found = sum(s["stats"][t][1] for t in reuse) / sum(s["stats"][t][0] for t in reuse)
            row += [_precision(s["tp"], s["fp"]), f"{s['tp'] / positives:.3f}", f"{found:.3f}"]
            row.append(s["fp"])
        return row

    header = ["precision", "recall", "reuse recall", "FP"]
    header += [f"{h} (--transforms)" for h in header]
    print(
        "\n*reuse recall*: original vs copy over recompression, resizing, format, brightness, "
        "contrast, grayscale, watermark and EXIF rotation; *recall*: every same-photo pair.\n"
    )
    print("#### The curve: pHash threshold T (the other limits as above)\n")
    print(_table(["T", *header], [curve_row(threshold, threshold) for threshold in CURVE]))
    for name, meaning in CONSTANTS.items():
        print(f"\n#### The curve: similarity.{name} ({meaning}), T = {DEFAULT_THRESHOLD}\n")
        rows = []
        chosen = getattr(similarity, name)
        for value in CURVES[name]:
            setattr(similarity, name, value)  # the library's own constant, moved for this row
            rows.append(curve_row(f"**{value}**" if value == chosen else value))
        setattr(similarity, name, chosen)
        print(_table([name, *header], rows))
    print(f"\n(run time {time.perf_counter() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
