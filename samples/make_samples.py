#!/usr/bin/env python3
"""Regenerate the media-catalog sample set in this folder.

Usage:  python samples/make_samples.py

Needs Pillow and scikit-image (only the photographs bundled inside the
scikit-image wheel under skimage/data are used; nothing is downloaded).
The output is deterministic for a given Pillow / libjpeg / scikit-image
version: fixed sizes, fixed JPEG qualities, no EXIF, no timestamps.
See README.md for what each file is and which duplicates the tool should find.
"""

import base64
import io
import re
import shutil
from pathlib import Path

import skimage.data
from PIL import Image

HERE = Path(__file__).resolve().parent  # <repo>/samples
REPO = HERE.parent  # <repo>
SEED = REPO.parent / "shared" / "seeds" / "000_0824385883043acb.txt"
SKDATA = Path(skimage.data.__file__).resolve().parent

ARTICLES = HERE / "articles"
ASSETS = HERE / "assets"
PHOTOS = HERE / "photos"
GALLERY = HERE / "gallery"

KEY_RE = re.compile(rb"s3://crabby-images/([0-9a-f]{5})/([0-9a-f]{40})")


def source(name):
    """Open one of the photographs bundled in skimage/data as RGB or L."""
    im = Image.open(SKDATA / name)
    im.load()
    return im.convert("L" if im.mode in ("L", "I;16", "I") else "RGB")


def fit(im, long_side):
    """Resize so the long side is `long_side` px (never upscale)."""
    w, h = im.size
    scale = long_side / max(w, h)
    if scale >= 1:
        return im.copy()
    return im.resize((round(w * scale), round(h * scale)), Image.LANCZOS)


def width(im, w):
    """Resize to a given width, keeping the aspect ratio."""
    return im.resize((w, round(im.height * w / im.width)), Image.LANCZOS)


def save_jpeg(im, path, quality):
    path.parent.mkdir(parents=True, exist_ok=True)
    # Explicit format: the asset files have no extension.
    im.save(path, format="JPEG", quality=quality, optimize=True)


def save_png(im, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, format="PNG", optimize=True)


def inline_png_data_uri():
    """A tiny 16x16 'LIVE' dot icon, deterministic, as a data: URI."""
    im = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    px = im.load()
    for y in range(16):
        for x in range(16):
            d2 = (x - 7.5) ** 2 + (y - 7.5) ** 2
            if d2 <= 6.5**2:
                px[x, y] = (214, 40, 40, 255)
            if d2 <= 2.5**2:
                px[x, y] = (255, 255, 255, 255)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Fire tears through Eastgate covered market; dozens of stalls lost</title>
<meta name="description" content="A fire that started before dawn destroyed most of the Eastgate covered market. No deaths were reported.">
</head>
<body>
<article>
<h1>Fire tears through Eastgate covered market; dozens of stalls lost</h1>
<p class="byline">By Staff Reporter &middot; <time datetime="2024-03-12">12 March 2024</time></p>

<p><img src="{live_icon}" alt="Live" title="Live updates" width="16" height="16"> This story is being updated as firefighters continue to work at the scene.</p>

<p>A fire that broke out shortly before dawn on Tuesday swept through the Eastgate covered market, destroying at least 40 stalls and sending a column of smoke over the old town that could be seen from the ring road.</p>

<figure>
<img src="../photos/smoke-plume.jpg" alt="A column of smoke and flame rising over rooftops" title="Smoke over Eastgate">
<figcaption>Smoke rises above the Eastgate market district early on Tuesday. (Agency photo)</figcaption>
</figure>

<p>The fire service said the first call came in at 5.12am and that crews from four stations were on site within twenty minutes. Six people were treated for smoke inhalation; no deaths have been reported.</p>

<p>Traders arriving for the morning shift found the main hall already alight. &ldquo;We lost everything, the machines, the stock, all of it,&rdquo; said the owner of a coffee stall that had traded in the market for eleven years.</p>

<figure>
<img src="../photos/cafe-counter.jpg" alt="A cup of coffee on a wooden counter" title="Before the fire">
<figcaption>A coffee stall in the market hall, photographed last year before the fire.</figcaption>
</figure>

<p>Investigators have not yet established the cause. A spokesperson for the council said an electrical fault in the refrigerated section was &ldquo;one line of inquiry among several&rdquo;.</p>

<figure>
<img src="https://example.com/news/2024/03/eastgate-aerial.jpg" alt="Aerial view of the burnt-out market roof" title="Aerial view">
<figcaption>An aerial view of the damaged roof, released by the fire service.</figcaption>
</figure>

<p>The council has opened a temporary trading area in the car park on Mill Lane and says affected traders can apply for emergency grants from Thursday.</p>

<figure>
<img src="../photos/missing.jpg" alt="Traders gather outside the cordon" title="Outside the cordon">
<figcaption>Traders gather outside the police cordon on Tuesday afternoon.</figcaption>
</figure>

<p>Roads around the market will remain closed until at least Wednesday evening.</p>
</article>
</body>
</html>
"""

MARKDOWN = """# A morning in the old quarter

*A short photo essay on the streets behind the Eastgate market, a week before the fire.*

The first customers arrive before the shutters are fully up. At the corner
stall the espresso machine has been warming since six, and the owner sets
out the first cup of the day on the counter he built himself.

![The first cup of the morning at a corner stall](../photos/cafe-counter.jpg "First light, Eastgate")

Two streets over, in a studio above a print shop, a photographer who has
documented the quarter for thirty years checks his camera before heading out.

![A photographer adjusting a camera on a tripod](../photos/photographer.jpg "The quarter's photographer")

Nobody in the lane is quite sure who the cat belongs to. It has been sitting
in the same window every morning for as long as the shopkeepers can remember,
and one of them has written its name, in Persian, on a card beside the door.

![گربه‌ای کنار پنجره در کوچه‌ی قدیمی][window-cat]

By nine the lane is full, and the cat has gone back to sleep.

[window-cat]: ../photos/window-cat.jpg "گربه‌ی کوچه"
"""


def main():
    # 1. The Persian seed article: exact byte copy.
    ARTICLES.mkdir(parents=True, exist_ok=True)
    seed_copy = ARTICLES / "hasakah-bombings.txt"
    shutil.copyfile(SEED, seed_copy)
    keys = [(a.decode(), b.decode()) for a, b in KEY_RE.findall(seed_copy.read_bytes())]
    assert len(keys) == 7, keys

    def asset(i):
        a, b = keys[i - 1]
        return ASSETS / "crabby-images" / a / b

    rocket = source("rocket.jpg")  # 640x427
    coffee = source("coffee.png")  # 600x400
    chelsea = source("chelsea.png")  # 451x300
    astronaut = source("astronaut.png")  # 512x512
    hubble = source("hubble_deep_field.jpg")  # 1000x872
    camera = source("camera.png")  # 512x512, greyscale
    coins = source("coins.png")  # 384x303, greyscale

    # 2. The seven gallery assets of the seed article (JPEG, no extension).
    save_jpeg(fit(rocket, 640), asset(1), 85)  # key 1: rocket
    save_jpeg(fit(coffee, 640), asset(2), 85)  # key 2: coffee
    save_jpeg(fit(chelsea, 640), asset(3), 85)  # key 3: chelsea
    save_jpeg(fit(astronaut, 640), asset(4), 85)  # key 4: astronaut
    save_jpeg(fit(hubble, 640), asset(5), 85)  # key 5: hubble deep field
    # key 6: near duplicate of key 2 -- key 2's JPEG resized to 320 px wide, q70
    with Image.open(asset(2)) as k2:
        save_jpeg(width(k2.convert("RGB"), 320), asset(6), 70)
    # key 7: exact (byte-identical) duplicate of key 1
    asset(7).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(asset(1), asset(7))

    # 3./4. Photos referenced by the HTML and Markdown articles.
    # Rocket re-encoded from the source at quality 60: near dup of keys 1/7.
    save_jpeg(fit(rocket, 640), PHOTOS / "smoke-plume.jpg", 60)
    # Byte-identical copy of asset key 2: exact dup across articles.
    PHOTOS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(asset(2), PHOTOS / "cafe-counter.jpg")
    # Chelsea at 400 px wide, q75: near dup of key 3.
    save_jpeg(width(chelsea, 400), PHOTOS / "window-cat.jpg", 75)
    # Camera: used only in the photo essay.
    save_jpeg(fit(camera, 512), PHOTOS / "photographer.jpg", 85)

    (ARTICLES / "market-fire.html").write_text(
        HTML.format(live_icon=inline_png_data_uri()), encoding="utf-8", newline="\n"
    )
    (ARTICLES / "photo-essay.md").write_text(MARKDOWN, encoding="utf-8", newline="\n")

    # 5. Loose image folder.
    # Astronaut as PNG (format change, 320 px): near dup of key 4.
    save_png(fit(astronaut, 320), GALLERY / "eileen-collins.png")
    # 160 px thumbnail of the Hubble image: near dup of key 5.
    save_jpeg(fit(hubble, 160), GALLERY / "deep-field-thumb.jpg", 85)
    # Coins: not used anywhere else.
    save_jpeg(fit(coins, 640), GALLERY / "pompeii-coins.jpg", 85)

    for p in sorted(HERE.rglob("*")):
        if p.is_file():
            print(f"{p.stat().st_size:>8}  {p.relative_to(HERE)}")


if __name__ == "__main__":
    main()
