"""dupes, lookup, search and export through the real CLI on the shipped samples."""

import orjson
import pytest
from PIL import Image

from .conftest import SEED_ALT


@pytest.fixture
def scanned(cli, samples):
    assert cli("scan", samples, "--assets", samples / "assets", "-q").exit_code == 0
    return samples


def test_dupes_json_contract(cli, scanned):
    result = cli("dupes", "--format", "json")
    assert result.exit_code == 0
    report = orjson.loads(result.stdout)
    assert report["threshold"] == 12
    # one cluster per photo: the two photos reused byte for byte are in their near clusters
    kinds = [c["kind"] for c in report["clusters"]]
    assert kinds == ["near"] * 5
    images = [image for cluster in report["clusters"] for image in cluster["images"]]
    assert len({image["sha256"] for image in images}) == len(images) == 10  # each once
    (coffee,) = [image for image in images if image["width"] == 600]
    assert coffee is next(c for c in report["clusters"] if c["images"][0] is coffee)["images"][0]
    used = {(o["article"].rsplit("/", 1)[1], o["position"]) for o in coffee["occurrences"]}
    assert used == {("hasakah-bombings.txt", 1), ("market-fire.html", 2), ("photo-essay.md", 0)}
    captions = {o["caption"] for o in coffee["occurrences"]}
    assert "A coffee stall in the market hall, photographed last year before the fire." in captions
    # the seed's gallery: key 1 and key 7 are the same bytes
    (rocket,) = [image for image in images if len(image["occurrences"]) == 2]
    assert [o["position"] for o in rocket["occurrences"]] == [0, 6]
    assert {o["alt"] for o in rocket["occurrences"]} == {SEED_ALT}


def test_dupes_threshold_zero_still_finds_identical_hashes_and_table_renders(cli, scanned):
    report = orjson.loads(cli("dupes", "--threshold", "0", "-f", "json").stdout)
    assert report["threshold"] == 0
    near = [c for c in report["clusters"] if c["kind"] == "near"]
    assert all(d["phash"] == 0 for c in near for d in c["distances"])
    # four pairs with equal hashes; the hubble thumbnail is 2 bits away (its central region
    # may hash like the original's at 0 bits)
    assert len([c for c in near if not c["distances"][1]["via"]]) == 4
    table = cli("dupes")
    assert table.exit_code == 0
    assert "exact reuse" not in table.stdout and "near duplicates" in table.stdout
    assert "A coffee stall" in table.stdout


def test_lookup_hash_prefix_and_image(cli, scanned):
    by_phash = orjson.loads(cli("lookup", "c0371bec1be51267", "-f", "json").stdout)
    assert [m["distance"] for m in by_phash["matches"]] == [0, 0]
    sha = by_phash["matches"][0]["image"]["sha256"]
    by_sha = orjson.loads(cli("lookup", f"sha256:{sha[:8]}", "-f", "json").stdout)
    assert [m["image"]["sha256"] for m in by_sha["matches"]] == [sha]
    by_image = cli("lookup", "--image", scanned / "gallery" / "deep-field-thumb.jpg", "-f", "json")
    distances = [m["distance"] for m in orjson.loads(by_image.stdout)["matches"]]
    assert distances == [0, 2]
    assert "bits" in cli("lookup", "c0371bec1be51267").stdout


def test_lookup_of_a_mirrored_photo_with_transforms(cli, scanned, tmp_path):
    photo = scanned / "gallery" / "pompeii-coins.jpg"
    with Image.open(photo) as image:
        image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "flipped.jpg")
    plain = cli("lookup", "--image", tmp_path / "flipped.jpg", "-f", "json")
    assert orjson.loads(plain.stdout) == {"matches": []}
    found = cli("lookup", "--image", tmp_path / "flipped.jpg", "--transforms", "-f", "json")
    (match,) = orjson.loads(found.stdout)["matches"]
    assert match["view"] == "mirror" and match["image"]["files"][0].endswith("pompeii-coins.jpg")
    table = cli("lookup", "--image", tmp_path / "flipped.jpg", "--transforms")
    assert table.exit_code == 0 and "(mirror)" in table.stdout


def test_lookup_takes_the_sha256_prefix_dupes_and_search_print(cli, scanned):
    dupes = orjson.loads(cli("dupes", "-f", "json").stdout)
    sha = dupes["clusters"][0]["images"][0]["sha256"]
    assert sha[:12] in cli("dupes").stdout  # the table's form
    for key in (sha[:12], sha[:6].upper(), sha[:63], f"sha256:{sha[:12]}"):
        found = orjson.loads(cli("lookup", key, "-f", "json").stdout)["matches"]
        assert [(m["distance"], m["image"]["sha256"]) for m in found] == [(0, sha)]
    unknown = "0" * 40 if not sha.startswith("0" * 40) else "f" * 40
    assert orjson.loads(cli("lookup", unknown, "-f", "json").stdout) == {"matches": []}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lookup", "not-hex"], "is not a hash"),
        (["lookup", "cffc1"], "is not a hash: give 16 hex digits (a pHash), 6 to 64"),
        (["lookup", "c" * 65], "is not a hash"),
        (["lookup"], "give either a HASH or --image"),
        (["lookup", "--image", "missing.jpg"], "cannot read"),
        (["lookup", "c0371bec1be51267", "--transforms"], "--transforms needs --image FILE"),
    ],
)
def test_lookup_errors_are_clear(cli, scanned, args, message):
    result = cli(*args)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output


def test_search_persian_variants_json_and_table(cli, scanned):
    arabic_spelling = "تصاوير"  # Arabic yeh; the seed writes Persian yeh
    found = orjson.loads(cli("search", arabic_spelling, "-f", "json").stdout)["results"]
    assert len(found) == 7 and {r["alt"] for r in found} == {SEED_ALT}
    assert all(r["sha256"] for r in found)
    zwnj = orjson.loads(cli("search", "گربهای", "-f", "json").stdout)["results"]
    assert [r["article"].rsplit("/", 1)[1] for r in zwnj] == ["photo-essay.md"]
    table = cli("search", "coffee")
    assert table.exit_code == 0 and "1 result." in table.stdout


def test_export_contract(cli, scanned):
    export = orjson.loads(cli("export").stdout)
    assert set(export) == {"images", "unresolved", "errors"}
    assert len(export["images"]) == 13
    assert {u["reason"] for u in export["unresolved"]} == {"remote", "missing"}
    inline = [i for i in export["images"] if not i["files"]]
    assert len(inline) == 1 and inline[0]["occurrences"][0]["src"].startswith("data:image/png")


def test_reading_commands_need_a_catalogue(cli):
    for command in (["dupes"], ["search", "x"], ["export"], ["lookup", "0" * 16]):
        result = cli(*command)
        assert result.exit_code == 1
        assert "no catalogue at" in result.stderr


def test_tables_escape_markup_and_control_characters(cli, tmp_path):
    from .conftest import photo, write_image

    write_image(tmp_path / "site" / "a.jpg", photo(1))
    (tmp_path / "site" / "p.html").write_text(
        '<img src="a.jpg" alt="[bold red]x[/] \x1b[31mred \u202eevil">'
    )
    cli("scan", tmp_path / "site", "-q")
    out = cli("search", "x").stdout
    assert "[bold red]x[/]" in out
    assert "\x1b" not in out and "\u202e" not in out and "\\u001b" in out


def test_tables_say_why_a_reference_is_unresolved_and_list_sizes_smallest_first(cli, scanned):
    table = cli("search", "unresolved:yes")
    assert table.exit_code == 0 and "unresolved:" in table.stdout and "remote" in table.stdout
    sizes = orjson.loads(cli("stats", "-f", "json").stdout)["sizes"]
    order = ["< 256 px", "256–1023 px", "1024–2047 px", ">= 2048 px"]
    assert list(sizes) == [name for name in order if name in sizes] and len(sizes) > 1
    coffee = orjson.loads(cli("dupes", "-f", "json").stdout)["clusters"][0]["images"][0]
    shown = cli("show", coffee["sha256"][:12])
    assert shown.exit_code == 0 and "centre90" not in shown.stdout  # views are JSON-only
