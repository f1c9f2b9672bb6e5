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
   VIEW_DHASH), the rest held at their defaults;
4. the pairs `dupes` and `--transforms` keep once their pixels are checked (OpenCV).

    python benchmarks/accuracy.py --robust

measures `dupes --robust` instead (needs OpenCV, the `robust` extra): the same originals,
plus a crop of each view of the stereo pair (look-alikes of the other view), each copied by
the crops, turns and mirrors that issue asks about (ROBUST_VARIANTS) and the easy variants.
Per kind of copy: recall (original vs copy) of imagededup's four hash methods (their
default 10 bits; when imagededup is installed), a plain imagehash pHash <= 12 loop, and
media-catalog's default and --transforms (by their hashes only, then with the pixels checked
as `dupes` checks them: similarity.checked_by_pixels) and --robust; then every pair of
different photos each method joined, and what the checks and --robust cost. Robust pairs
are made by the library's own function (similarity.robust_verified), as `dupes --robust`
makes them.

    python benchmarks/accuracy.py --robust --photos DIR

adds every JPEG in DIR as a held-out photograph (its longer side HELD_OUT_SIDE px), copied
the same ways, and prints recall on those alone for every method. docs/benchmarks.md uses
26 photographs from two Debian packages (every JPEG of lomiri-wallpapers-16.04 but the
drawn `umang_by_Abhishek_Mudgal.jpg`, and mate-backgrounds' `nature/` folder):

    apt-get download lomiri-wallpapers-16.04 mate-backgrounds
    for f in *.deb; do dpkg-deb -x "$f" x; done
    mkdir DIR && cp x/usr/share/backgrounds/*.jpg x/usr/share/backgrounds/mate/nature/*.jpg DIR
    rm DIR/umang_by_Abhishek_Mudgal.jpg
"""

from __future__ import annotations

import io
import resource
import sys
import time
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from threshold import (  # noqa: E402
    FLAT,
    GEOMETRIC,
    REUSE,
    TEXTLIKE,
    Original,
    _jpeg,
    _make_original,
    _table,
    load_originals,
    make_variant,
)

import media_catalog.similarity as similarity  # noqa: E402
from media_catalog.fingerprint import fingerprint  # noqa: E402
from media_catalog.records import ImageRecord  # noqa: E402
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


def _record(data: bytes, name: str) -> ImageRecord:
    """The image as a catalogue holds it: its fingerprint's fields, its file named `name`."""
    return ImageRecord({**fingerprint(data, name).to_dict(), "files": [name]})


def main() -> None:
    started = time.perf_counter()
    originals = load_originals() + sklearn_originals()
    files: list[tuple[str, str, ImageRecord]] = []  # (original, transform or "", image)
    data = []  # each file's bytes
    for o in originals:
        files.append((o.name, "", _record(o.data, o.name)))
        data.append(o.data)
        for t in TRANSFORMS:
            data.append(extra_variant(o.image, t) if t in EXTRA else make_variant(o, t))
            files.append((o.name, t, _record(data[-1], f"{o.name}:{t}")))
    parent = {o.name: o.parent or o.name for o in originals}

    def related(a: str, b: str) -> bool:  # a full picture and its own quadrant share pixels
        return a != b and (parent[a] == b or parent[b] == a)

    usable = [n for n, (_, _, image) in enumerate(files) if not low_information(image)]
    views = {}
    for mode, (with_views, _) in MODES.items():
        views[mode] = [
            files[n][2] if with_views else ImageRecord({**files[n][2].doc, "variants": {}})
            for n in usable
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
    checked_as_dupes(files, data, usable, related)
    print(f"\n(run time {time.perf_counter() - started:.0f} s)", file=sys.stderr)


def checked_as_dupes(
    files: list[tuple[str, str, ImageRecord]],
    data: list[bytes],
    usable: list[int],
    related: Callable[[str, str], bool],
) -> None:
    """Print what `dupes` and `--transforms` pair once their pixels are checked (as
    similarity.checked_by_pixels checks them; needs OpenCV)."""
    from media_catalog import robust
    from media_catalog.similarity import checked_by_pixels, turned_pairs, unsure_pairs

    views = [files[n][2] for n in usable]
    print("\n#### With the pixels checked, as `dupes` checks them\n")
    for mode, transforms in (("default", False), ("--transforms", True)):
        pairs = near_pairs(views, DEFAULT_THRESHOLD, transforms=True)
        unsure = unsure_pairs(pairs, [v.phash256 for v in views])
        picture = lambda k: robust.picture(data[usable[k]])  # noqa: E731
        done = checked_by_pixels(pairs, unsure, turned_pairs(pairs), picture, transforms)
        kept = [(files[usable[a]][0], files[usable[b]][0]) for a, b in pairs]
        same = sum(a == b for a, b in kept)
        different = sum(a != b and not related(a, b) for a, b in kept)
        print(
            f"- {mode}: {len(pairs)} pairs, {same} of one photo, {different} of different "
            f"photos; {done['turned']} mirrored or turned ({done['confirmed']} confirmed), "
            f"{done['refuted']} refuted"
        )


ROBUST_VARIANTS = [
    "crop_90",
    "crop_70",
    "crop_70_off",
    "crop_60_off",
    "rotate_3",
    "rotate_10",
    "mirror",
    "rot90",
    "rot180",
    "letterbox",
    "pad_10",
    "mirror_crop_75",
]


# drawings, charts, text and flat scans among the originals: the "photos" column leaves them out
NOT_PHOTOS = FLAT | TEXTLIKE | {"checkerboard", "colorwheel", "logo", "phantom", "horse"}


def robust_variant(original: Original, transform: str) -> bytes:
    image = original.image
    w, h = image.size
    fill = 255 if image.mode == "L" else (255, 255, 255)

    def crop(keep: float, x: float, y: float) -> Image.Image:
        cw, ch = round(w * keep), round(h * keep)
        left, top = round((w - cw) * x), round((h - ch) * y)
        return image.crop((left, top, left + cw, top + ch))

    match transform:
        case "crop_70_off":
            return _jpeg(crop(0.7, 0.1, 0.9))
        case "crop_60_off":
            return _jpeg(crop(0.6, 0.95, 0.15))
        case "rotate_10":
            return _jpeg(image.rotate(-10, resample=Image.Resampling.BICUBIC, fillcolor=fill))
        case "rot180":
            return _jpeg(image.transpose(Image.Transpose.ROTATE_180))
        case "mirror_crop_75":
            return _jpeg(ImageOps.mirror(crop(0.75, 0.2, 0.6)))
        case _ if transform in EXTRA:
            return extra_variant(image, transform)
    return make_variant(original, transform)


HELD_OUT_SIDE = 1280  # px, the longer side of a held-out photograph (a news photo's size)


def held_out_originals(folder: Path) -> list[Original]:
    """Every JPEG in `folder` as an original named `held_<stem>`, upright, its longer side
    HELD_OUT_SIDE px."""
    made = []
    for path in sorted(folder.glob("*.jp*g")):
        with Image.open(path) as image:
            pixels = ImageOps.exif_transpose(image).convert("RGB")
        pixels.thumbnail((HELD_OUT_SIDE, HELD_OUT_SIDE), Image.Resampling.LANCZOS)
        made.append(_make_original(f"held_{path.stem}", pixels, None))
    return made


def _cpu() -> float:
    """CPU seconds of this process and of its finished workers (the keypoint search forks)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def stereo_crops(originals: list[Original]) -> list[Original]:
    """A 70 % crop of each view of the stereo pair: a look-alike of the other view's copies."""
    made = []
    for name, x in (("motorcycle_left", 0.1), ("motorcycle_right", 0.3)):
        (view,) = [o for o in originals if o.name == name]
        w, h = view.image.size
        box = (round(w * x * 0.3), round(h * 0.1), round(w * x * 0.3 + w * 0.7), round(h * 0.8))
        made.append(_make_original(f"{name}_crop", view.image.crop(box), name))
    return made


def imagededup_hashers() -> dict:
    """imagededup's hash methods, imported without its CNN (which needs torch)."""
    try:
        import types

        import imagededup
    except ImportError:
        return {}
    root = Path(imagededup.__file__).parent
    for package in ("methods", "utils"):  # their __init__ imports torch; hashing does not
        module = types.ModuleType(f"imagededup.{package}")
        module.__path__ = [str(root / package)]
        sys.modules.setdefault(f"imagededup.{package}", module)
    from imagededup.methods.hashing import AHash, DHash, PHash, WHash

    return {f"imagededup {c.__name__}": c(verbose=False) for c in (PHash, DHash, WHash, AHash)}


def _brute_pairs(codes: list[int], limit: int) -> set[tuple[int, int]]:
    import numpy as np

    values = np.array(codes, dtype=np.uint64)
    found = set()
    for a in range(len(values)):
        close = np.flatnonzero(np.bitwise_count(values[a + 1 :] ^ values[a]) <= limit)
        found.update((a, a + 1 + int(b)) for b in close)
    return found


def robust_main() -> None:
    import imagehash

    from media_catalog import robust
    from media_catalog.similarity import (
        checked_by_pixels,
        robust_verified,
        turned_pairs,
        unsure_pairs,
    )

    started = time.perf_counter()
    originals = load_originals() + sklearn_originals()
    originals += stereo_crops(originals)
    arguments = sys.argv[1:]
    folder = Path(arguments[arguments.index("--photos") + 1]) if "--photos" in arguments else None
    held = held_out_originals(folder) if folder else []
    originals += held
    kinds = [*ROBUST_VARIANTS, *REUSE]
    files: list[tuple[str, str, bytes]] = []
    for o in originals:
        files.append((o.name, "", o.data))
        files += [(o.name, t, robust_variant(o, t)) for t in kinds]
    prints = [_record(data, f"{o}:{t}") for o, t, data in files]
    usable = [n for n, image in enumerate(prints) if not low_information(image)]
    parent = {o.name: o.parent or o.name for o in originals}

    def related(a: str, b: str) -> bool:  # a picture and a crop of it share pixels
        if a == b or ("_q" in a and "_q" in b):  # two quadrants of one picture share none
            return False
        return parent[a] == b or parent[b] == a or parent[a] == parent[b]

    methods: dict[str, set[tuple[int, int]]] = {}
    for name, hasher in imagededup_hashers().items():
        codes = []
        for _, _, data in files:
            with Image.open(io.BytesIO(data)) as image:
                pixels = __import__("numpy").asarray(image.convert("RGB"))
            codes.append(int(hasher.encode_image(image_array=pixels), 16))
        methods[name] = _brute_pairs(codes, 10)
    plain = []
    for _, _, data in files:
        with Image.open(io.BytesIO(data)) as image:
            plain.append(int(str(imagehash.phash(image)), 16))
    methods["plain pHash <= 12"] = _brute_pairs(plain, DEFAULT_THRESHOLD)
    views = [prints[n] for n in usable]
    checked = {}
    for mode, transforms in (("media-catalog dupes", False), ("--transforms", True)):
        pairs = near_pairs(views, DEFAULT_THRESHOLD, transforms=transforms)
        methods[f"{mode}, hashes only"] = {(usable[a], usable[b]) for a, b in pairs}
        pairs = near_pairs(views, DEFAULT_THRESHOLD, transforms=True)  # as `dupes` finds them
        cpu = _cpu()
        unsure = unsure_pairs(pairs, [v.phash256 for v in views])
        done = checked_by_pixels(
            pairs,
            unsure,
            turned_pairs(pairs),
            lambda k: robust.picture(files[usable[k]][2]),
            transforms,
        )
        checked[mode] = {**done, "cpu": _cpu() - cpu}
        methods[mode] = {(usable[a], usable[b]) for a, b in pairs}

    cpu = _cpu()
    found = [robust.features_of(files[n][2]) for n in usable]
    feature_cpu = (_cpu() - cpu) / len(usable)
    pairs = near_pairs(views, DEFAULT_THRESHOLD)
    turned = near_pairs(views, DEFAULT_THRESHOLD, transforms=True)
    cpu = _cpu()
    done = robust_verified(
        pairs,
        turned,
        found,
        lambda k: robust.picture(files[usable[k]][2]),
        lambda numbers: dict(enumerate(views)),
    )
    robust_cpu = _cpu() - cpu
    methods["--robust"] = {(usable[a], usable[b]) for a, b in pairs}

    index = {(o, t): n for n, (o, t, _) in enumerate(files)}
    photos = [o for o in originals if o.name.split("_q")[0] not in NOT_PHOTOS and o not in held]
    columns = [(name, matched, originals) for name, matched in methods.items()]
    columns.append(("--robust, photos only", methods["--robust"], photos))
    whole = [o for o in photos if "_q" not in o.name]  # not a quadrant of 256-320 px
    columns.append(("--robust, whole photos", methods["--robust"], whole))

    def recall(columns: list[tuple[str, set[tuple[int, int]], list[Original]]]) -> list[list]:
        rows = []
        for kind in [*ROBUST_VARIANTS, "easy"]:
            row = [kind]
            for _, matched, among in columns:
                shown = REUSE if kind == "easy" else [kind]
                wanted = [(index[(o.name, "")], index[(o.name, t)]) for o in among for t in shown]
                row.append(f"{sum(p in matched for p in wanted) / len(wanted):.3f}")
            rows.append(row)
        return rows

    rows, false = recall(columns), {}
    for name, matched in methods.items():
        false[name] = sorted(
            f"{files[a][0]}:{files[a][1] or 'original'} ~ {files[b][0]}:{files[b][1] or 'original'}"
            for a, b in matched
            if files[a][0] != files[b][0] and not related(files[a][0], files[b][0])
        )
    print(
        f"- command: `python benchmarks/accuracy.py --robust`; {len(originals)} originals "
        f"(incl. a crop of each stereo view), {len(kinds)} kinds of copy, {len(files)} files, "
        f"{len(files) - len(usable)} low-information files left out of media-catalog's rows "
        f"as `dupes` leaves them out; *photos only*: the {len(photos)} originals that are "
        "photographs (not drawings, charts, text or flat scans); *whole photos*: the "
        f"{len(whole)} of those that are not a quadrant of another (quadrants are 256-320 px, "
        "so their 60 % crop is 128-192 px)\n"
    )
    print("#### Recall, original vs copy (easy: the 12 re-encodings and edits together)\n")
    print(_table(["copy", *(name for name, _, _ in columns)], rows))
    if held:
        print(f"\n#### Recall on the {len(held)} held-out photographs ({folder})\n")
        shown = [(name, matched, held) for name, matched in methods.items()]
        print(_table(["copy", *(name for name, _, _ in shown)], recall(shown)))
        missed = [
            f"{o.name}:{kind}"
            for o in held
            for kind in ROBUST_VARIANTS
            if (index[(o.name, "")], index[(o.name, kind)]) not in methods["--robust"]
        ]
        print(f"\n- --robust missed: {', '.join(missed) or 'none'}")
    print("\n#### Pairs of different photos joined\n")
    print(
        _table(
            ["method", "pairs", "stereo look-alikes"],
            [
                [
                    name,
                    len(pairs_),
                    sum(1 for p in pairs_ if p.startswith("motorcycle") and "~ motorcycle" in p),
                ]
                for name, pairs_ in false.items()
            ],
        )
    )
    for name, pairs_ in false.items():
        if pairs_ and name.startswith(("--", "media")):
            print(f"\n- {name}: {', '.join(pairs_[:10])}")
    print(
        "\n- pixels checked by default `dupes` (pairs of whole pictures whose 256-bit pHashes "
        f"are over {similarity.FINE_SURE} bits apart): "
        + "; ".join(
            f"{mode}: {c['compared']} compared, {c['refuted']} refuted, {c['turned']} "
            f"mirrored or turned ({c['confirmed']} confirmed), {c['cpu']:.1f} s CPU"
            for mode, c in checked.items()
        )
    )
    print(
        f"\n#### What --robust cost (its worker processes included)\n\n"
        f"- features: {feature_cpu * 1000:.1f} ms CPU per image ({len(usable)} images, "
        f"about {robust.SIDE} px)\n"
        f"- candidates, frames compared and verification: {robust_cpu:.1f} s CPU; "
        f"{done['candidates']} candidate pairs ({done['candidates'] / len(usable):.1f} per "
        f"image), {done['verified']} verified; {done['refuted']} pairs of whole-picture "
        "hashes refuted by the cells"
    )
    print(f"\n(run time {time.perf_counter() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    robust_main() if "--robust" in sys.argv[1:] else main()
