"""How well does `media-catalog dupes` find reused photos, and does it ever join different ones?

Run from the repository root (needs scikit-image for its bundled photographs; no network):

    python benchmarks/accuracy.py

It builds on benchmarks/threshold.py (same 81 originals from the scikit-image wheel and its 16
transformations) and adds the reuse it left out: a 70 % crop, white padding (10 % each side),
a copy rotated by an EXIF orientation tag, and a quarter-turned copy without the tag. Every
file is fingerprinted by `media_catalog.fingerprint.fingerprint` and matched by the library's
own `similarity.near_pairs` (the views `dupes` compares: plain, borders trimmed, and with
`--transforms` the mirror and quarter turns), with low-information images left out as `dupes`
does. It prints Markdown:

1. per transformation: pairwise recall (original vs copy) and precision (the copy's matches
   against files of other photos count as false), for plain hashes only, the default views,
   and with `--transforms`;
2. overall pairwise precision and recall over every pair of files, and the hard negatives
   (stereo pair, quadrants of one picture, flat images, text pages) reported as duplicates;
3. the curve: precision and recall for pHash <= T (T = 4..16) with dHash <= 8 confirming.
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
    _jpeg,
    _table,
    load_originals,
    make_variant,
)

from media_catalog.fingerprint import fingerprint  # noqa: E402
from media_catalog.similarity import (  # noqa: E402
    DEFAULT_THRESHOLD,
    DHASH_CONFIRM,
    low_information,
    near_pairs,
)

EXTRA = ["crop_70", "pad_10", "exif_rotation", "rot90"]
TRANSFORMS = REUSE + GEOMETRIC + EXTRA
CURVE = range(4, 17, 2)
MODES = {"plain hashes": (False, False), "default": (True, False), "--transforms": (True, True)}


def extra_variant(image: Image.Image, transform: str) -> bytes:
    w, h = image.size
    match transform:
        case "crop_70":
            dx, dy = round(w * 0.15), round(h * 0.15)
            return _jpeg(image.crop((dx, dy, w - dx, h - dy)))
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


def main() -> None:
    started = time.perf_counter()
    originals = load_originals()
    files: list[tuple[str, str, dict]] = []  # (original, transform or "", image dict)
    for o in originals:
        files.append((o.name, "", fingerprint(o.data, o.name).to_dict()))
        for t in TRANSFORMS:
            data = extra_variant(o.image, t) if t in EXTRA else make_variant(o, t)
            files.append((o.name, t, fingerprint(data, f"{o.name}:{t}").to_dict()))
    parent = {o.name: o.parent or o.name for o in originals}

    def related(a: str, b: str) -> bool:  # a full picture and its own quadrant share pixels
        return a != b and (parent[a] == b or parent[b] == a)

    usable = [not low_information(image) for _, _, image in files]
    results = {}
    for mode, (trimmed, transforms) in MODES.items():
        images = []
        for _, _, image in files:
            variants = image["variants"] if trimmed else {}
            images.append({**image, "variants": variants})
        pairs = near_pairs(
            [img for img, ok in zip(images, usable, strict=True) if ok],
            max(CURVE),
            dhash_threshold=DHASH_CONFIRM,
            transforms=transforms,
        )
        numbers = [n for n, ok in enumerate(usable) if ok]
        results[mode] = {(numbers[a], numbers[b]): d["phash"] for (a, b), d in pairs.items()}

    def score(mode: str, threshold: int) -> dict:
        matched = {p for p, d in results[mode].items() if d <= threshold}
        stats = {t: [0, 0, 0] for t in TRANSFORMS}  # true pairs, found, false matches
        index = {(o, t): n for n, (o, t, _) in enumerate(files)}
        for o in originals:
            for t in TRANSFORMS:
                pair = (index[(o.name, "")], index[(o.name, t)])
                stats[t][0] += 1
                stats[t][1] += pair in matched
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
    scores = {mode: score(mode, DEFAULT_THRESHOLD) for mode in MODES}
    print(
        f"- command: `python benchmarks/accuracy.py`; {len(originals)} originals, "
        f"{len(TRANSFORMS)} transformations, {len(files)} files, {positives} same-photo "
        f"file pairs; pHash <= {DEFAULT_THRESHOLD} and dHash <= {DHASH_CONFIRM}\n"
    )
    print("#### Per transformation: recall (original vs copy) / precision\n")
    rows = []
    for t in TRANSFORMS:
        row = [t]
        for mode in MODES:
            n, found, false = scores[mode]["stats"][t]
            precision = found / (found + false) if found + false else 1.0
            row.append(f"{found / n:.3f} / {precision:.3f}")
        rows.append(row)
    print(_table(["transformation", *MODES], rows))
    print("\n#### Overall, every pair of files\n")
    rows = []
    for mode in MODES:
        s = scores[mode]
        precision = s["tp"] / (s["tp"] + s["fp"]) if s["tp"] + s["fp"] else 1.0
        rows.append([mode, f"{precision:.4f}", f"{s['tp'] / positives:.3f}", s["fp"]])
    print(_table(["views", "precision", "recall", "different-photo pairs matched"], rows))
    for mode in MODES:
        if scores[mode]["negatives"]:
            shown = ", ".join(f"{a} ~ {b}" for a, b in scores[mode]["negatives"][:8])
            print(f"\n- {mode}: different photos matched: {shown}")
    print("\n#### The curve: pHash <= T with dHash <= 8, default views / --transforms\n")
    rows = []
    for threshold in CURVE:
        row = [threshold]
        for mode in ("default", "--transforms"):
            s = score(mode, threshold)
            precision = s["tp"] / (s["tp"] + s["fp"]) if s["tp"] + s["fp"] else 1.0
            row += [f"{precision:.4f}", f"{s['tp'] / positives:.3f}", s["fp"]]
        rows.append(row)
    print(
        _table(
            [
                "T",
                "precision",
                "recall",
                "FP",
                "precision (--transforms)",
                "recall (--transforms)",
                "FP (--transforms)",
            ],
            rows,
        )
    )
    print(f"\n(run time {time.perf_counter() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
