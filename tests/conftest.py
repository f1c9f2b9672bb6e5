"""Shared fixtures: real images made with numpy/Pillow, real articles on disk, the real CLI."""

from __future__ import annotations

import io
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from PIL import Image
from typer.testing import CliRunner

from media_catalog.cli import app

settings.register_profile("ci", deadline=None, derandomize=True, max_examples=60)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
SEED = SAMPLES / "articles" / "hasakah-bombings.txt"
SEED_ALT = (
    "دو انفجار انتحاری در حسکه با دهها کشته و مجروح+تصاویر "
    "دو انفجار انتحاری در حسکه با دهها کشته و مجروح+تصاویر"
)


def photo(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A photo-like RGB image: smooth random structure, different for every seed."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((6, 8, 3)) * 255
    small = Image.fromarray(coarse.astype(np.uint8), "RGB")
    image = small.resize(size, Image.Resampling.BICUBIC)
    noise = rng.normal(0, 6, (size[1], size[0], 3))
    pixels = np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def encode(image: Image.Image, format: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def write_image(path: Path, image: Image.Image, format: str = "JPEG", **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(image, format, **options))
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(params=["media-catalog.json", "media-catalog.sqlite"], ids=["json", "sqlite"])
def cli(
    request: pytest.FixtureRequest,
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
):
    """Run `media-catalog ARGS…` in tmp_path; returns the click Result. Every test using it
    runs twice: with the default catalogue a JSON file, then an SQLite one (`invoke.db`)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDIA_CATALOG_DB", request.param)

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    invoke.db = request.param  # type: ignore[attr-defined]
    return invoke


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    """A private copy of samples/ (scans write nothing there, but paths stay stable)."""
    target = tmp_path / "samples"
    shutil.copytree(SAMPLES, target)
    return target


@pytest.fixture(scope="module")
def s3():
    """An S3-compatible server on 127.0.0.1 (moto's standalone server): its endpoint URL."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
