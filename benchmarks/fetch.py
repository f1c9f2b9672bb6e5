"""How fast does `scan --fetch` download images, against a plain sequential httpx loop?

Run from the repository root (the `fetch` extra installed; nothing leaves the machine):

    python benchmarks/fetch.py [--images 2000] [--per-page 10] [--latency 0.05] [--hosts 8]

A threaded HTTP server on 127.0.0.1 answers every image request after `--latency` seconds
(a distant CDN); the images (distinct small JPEGs) are spread over `--hosts` loopback host
names (127.0.0.1, 127.0.0.2…: each is a host to the per-host limit). Pages of `--per-page`
images each name them by absolute URL. In the same run it times:

- the baseline: `httpx.get(url)` for every URL, one after another, with one client;
- `Fetcher.fetch_all(urls)`: media-catalog's fetcher given every URL at once;
- `media-catalog scan PAGES --fetch --allow-private`: the whole scan (fetch, fingerprint,
  catalogue), which fetches the images of one article at a time.

Each prints images/second, and the ratio to the baseline, of wall time.
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def images(count: int) -> list[bytes]:
    """`count` distinct small JPEGs (a gradient and a number of dots)."""
    from PIL import Image, ImageDraw

    made = []
    for k in range(count):
        image = Image.new("RGB", (96, 64), (k % 256, (k // 256) % 256, 90))
        draw = ImageDraw.Draw(image)
        for dot in range(k % 23 + 1):
            draw.ellipse((dot * 4 % 90, dot * 7 % 60, dot * 4 % 90 + 5, dot * 7 % 60 + 5))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=80)
        made.append(buffer.getvalue())
    return made


def serve(bodies: list[bytes], latency: float) -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            time.sleep(latency)
            body = bodies[int(self.path.rsplit("/", 1)[1].split(".")[0])]
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("0.0.0.0", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--per-page", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--hosts", type=int, default=8)
    args = parser.parse_args()

    import httpx

    from media_catalog.fetch import Fetcher

    bodies = images(args.images)
    server, port = serve(bodies, args.latency)
    urls = [f"http://127.0.0.{k % args.hosts + 1}:{port}/{k}.jpg" for k in range(args.images)]
    print(f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, httpx {httpx.__version__}"
    )
    print(
        f"- {args.images:,} images of {sum(map(len, bodies)) / len(bodies) / 1024:.1f} KiB, "
        f"{args.latency * 1000:.0f} ms each, over {args.hosts} host names; "
        f"{args.per_page} a page\n"
    )
    rows = []
    start = time.perf_counter()
    with httpx.Client() as client:
        for url in urls:
            client.get(url).raise_for_status()
    baseline = time.perf_counter() - start
    rows.append(("sequential httpx loop (baseline)", baseline))
    with tempfile.TemporaryDirectory() as work:
        fetcher = Fetcher(Path(work) / "cache", allow_private=True)
        start = time.perf_counter()
        fetcher.fetch_all(urls)
        rows.append(("Fetcher.fetch_all, every URL at once", time.perf_counter() - start))
        assert all(found.file is not None for found in fetcher.done.values())
        fetcher.close()
        pages = Path(work) / "pages"
        pages.mkdir()
        for first in range(0, len(urls), args.per_page):
            tags = "".join(f'<img src="{url}">' for url in urls[first : first + args.per_page])
            (pages / f"{first:06d}.html").write_text(f"<p>Page</p>{tags}")
        command = [sys.executable, "-m", "media_catalog", "scan", str(pages), "--fetch"]
        command += ["--allow-private", "--db", str(Path(work) / "c.sqlite"), "-q"]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        rows.append(("scan --fetch (fetch, fingerprint, catalogue)", time.perf_counter() - start))
    server.shutdown()
    print("| run | wall s | images/s | × baseline |")
    print("|---|---:|---:|---:|")
    for name, wall in rows:
        print(f"| {name} | {wall:.1f} | {args.images / wall:,.0f} | {baseline / wall:.1f}× |")


if __name__ == "__main__":
    main()
