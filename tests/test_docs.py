"""Every command says what it does with an example, and the README documents it."""

import re

import pytest
from typer.main import get_command

from media_catalog import __all__ as exported
from media_catalog.cli import app

from .conftest import REPO

COMMANDS = sorted(get_command(app).commands)


def test_commands():
    assert COMMANDS == [
        "audit",
        "dupes",
        "export",
        "import",
        "lookup",
        "scan",
        "search",
        "serve",
        "show",
        "stats",
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_an_example(runner, command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert re.search(r"Examples?:\s*media-catalog " + command, result.stdout)


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_documents_every_command(command):
    assert f"media-catalog {command}" in (REPO / "README.md").read_text()


def test_readme_quick_start_matches_ci():
    readme = (REPO / "README.md").read_text()
    test_command = re.search(r"```sh\n(pip install -e '\.\[test\]' && [^\n]+)\n```", readme)
    assert test_command, "README quick start lacks the test command"
    assert test_command.group(1).split("&& ", 1)[1] in (REPO / ".ci" / "run").read_text()


def test_public_names():
    assert {
        "open_store",
        "Store",
        "import_files",
        "scan",
        "duplicate_clusters",
        "lookup",
        "search",
        "MediaCatalogError",
    } <= set(exported)
