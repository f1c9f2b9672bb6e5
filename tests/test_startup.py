"""Start-up: the public names load on first use, and the reading commands never import the
image and parsing stack, numpy, nor the modules of other commands."""

import subprocess
import sys

import media_catalog
from media_catalog.cli import app
from media_catalog.extract import CONTEXT_CHARS

from .conftest import REPO

HEAVY = (
    *("PIL", "scipy", "selectolax", "markdown_it", "charset_normalizer", "numpy"),
    # ours and rich's, which only other commands need
    *("media_catalog.audit", "media_catalog.reports", "media_catalog.export"),
    *("media_catalog.similarity", "media_catalog.pipeline", "rich.progress"),
    "pydantic",  # typer 0.29 validates every option with it: 0.15 s a run (pyproject pins <0.29)
)


def test_public_names_resolve_to_the_library_objects():
    from media_catalog.fingerprint import fingerprint
    from media_catalog.pipeline import scan

    assert media_catalog.scan is scan
    assert set(media_catalog.__all__) <= set(dir(media_catalog))
    for name in media_catalog.__all__:
        assert getattr(media_catalog, name) is not None
    # importing the submodule of the same name does not hide the function
    assert media_catalog.fingerprint is fingerprint and callable(media_catalog.fingerprint)


def test_reading_commands_do_not_import_the_image_stack(tmp_path, samples):
    db = tmp_path / "c.json"

    def imported(*args: str, heavy: tuple[str, ...] = HEAVY) -> str:
        code = (
            "import sys, runpy\n"
            "sys.argv = ['media-catalog', *sys.argv[1:]]\n"
            "try:\n"
            "    runpy.run_module('media_catalog', run_name='__main__')\n"
            "except SystemExit:\n"
            "    pass\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
        )
        return done.stdout.strip().splitlines()[-1]

    assert imported("scan", str(samples), "--db", str(db), "-q") != "[]"  # scan needs them
    photos = str(samples / "photos")  # images alone: no article parser, and scipy never
    parsers = ("scipy", "selectolax", "markdown_it", "charset_normalizer")
    assert imported("scan", photos, "--db", str(tmp_path / "p.json"), "-q", heavy=parsers) == "[]"
    for args in (
        ["--version"],
        ["lookup", "sha256:fa06a17b", "--db", str(db)],
        ["lookup", "0" * 16, "--db", str(db)],
        ["search", "حسکه", "--db", str(db)],
        ["search", "حسکه", "--db", str(db), "-f", "json", "--limit", "1"],
        ["show", "fa06a17b", "--db", str(db)],
    ):
        assert imported(*args) == "[]", args
    for args in (  # JSON output draws nothing: no rich either
        ["lookup", "sha256:fa06a17b", "--db", str(db), "-f", "json"],
        ["search", "حسکه", "--db", str(db), "-f", "json"],
        ["lookup", "0" * 16, "--db", str(db), "-f", "json"],
    ):
        assert imported(*args, heavy=(*HEAVY, "rich.console")) == "[]", args


def test_scan_help_states_the_extractors_context_default(runner):
    result = runner.invoke(app, ["scan", "--help"])
    assert f"[default: {CONTEXT_CHARS}]" in " ".join(result.stdout.split())
