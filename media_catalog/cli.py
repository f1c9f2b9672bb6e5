"""The `media-catalog` command: parses options, calls the library, renders the result.

Library errors (MediaCatalogError) are printed as `Error: …` on stderr with exit status 1;
usage errors keep typer's exit status 2.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from enum import Enum
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:  # imported where a table or message is drawn: JSON output starts without
    from rich.console import Console

from . import __version__, render
from .errors import MediaCatalogError, QueryError
from .models import (
    DEFAULT_MAX_ALT_LENGTH,
    DEFAULT_THRESHOLD,
    IMAGE_SECONDS,
    MAX_FETCH_BYTES,
    MAX_THRESHOLD,
)
from .store import DEFAULT_PATH, FAILURES, damage, failure, move_advice, open_store

# Each command imports the stages it runs, so that `lookup`, `search` and `show` start without
# loading the image and parsing stack (Pillow, scipy, selectolax, markdown-it),
# numpy, the audit, the reports or rich's progress bar: start-up is most of their time.

app = typer.Typer(
    help="Catalogue the images embedded in articles; report duplicates; look up and search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Format(str, Enum):
    table = "table"
    json = "json"


DbOption = Annotated[
    Path,
    typer.Option(
        "--db",
        envvar="MEDIA_CATALOG_DB",
        help="Catalogue file: SQLite when it ends in .sqlite, .sqlite3 or .db, else TinyDB JSON; "
        "or the --out folder of a sharded scan (read-only).",
    ),
]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
ThresholdOption = Annotated[
    int,
    typer.Option(
        "--threshold",
        help="Largest pHash Hamming distance (bits) for near duplicates; at most 24, where "
        "unrelated photos start to match and the search compares half of all pairs.",
        min=0,
        max=MAX_THRESHOLD,
    ),
]
DistanceOption = Annotated[
    int,
    typer.Option(
        "--distance", help="Largest pHash Hamming distance (bits) to report.", min=0, max=64
    ),
]
F = TypeVar("F", bound=Callable[..., Any])
# Columns a table may take when stdout is no terminal: enough for any cell whole (a table
# narrower than this is as wide as its content).
PIPED_WIDTH = 10_000


def _stdout() -> Console:
    """The console tables go to: a terminal's width; piped or redirected (and no `COLUMNS`
    set), as wide as the content, so that no cell is folded into slivers."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console.width = PIPED_WIDTH
    return console


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def _progress_bars(
    show: bool, *bars: tuple[str, str]
) -> Iterator[list[Callable[[int, int], None] | None]]:
    """A progress bar on stderr for each (label, unit), with its rate and time left, as a
    callback `(done, total)` for each; None for each (no bar, no cost) when not shown."""
    if not show:
        yield [None for _ in bars]
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class _Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(f"{task.speed or 0:.1f} {task.fields['unit']}/s")

    columns = (TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), _Rate())
    with Progress(*columns, TimeRemainingColumn(), console=_stderr(), transient=True) as shown:
        tasks = [shown.add_task(label, total=None, unit=unit) for label, unit in bars]
        yield [
            lambda done, total, task=task: shown.update(task, completed=done, total=total)
            for task in tasks
        ]


def _damage(db: Path | None) -> str | None:
    """Why the catalogue at `db` cannot be read as one, when a command failed on it; None
    when it is whole (or there is none)."""
    try:
        found = damage(open_store(db, create=False)) if db is not None else None
    except MediaCatalogError as exc:
        return str(exc)
    if found is None:
        return None
    return (
        f"{db} was edited by hand or is damaged: {found}. Restore it from a backup, or scan "
        "again into a new catalogue."
    )


def _handle_errors(command: F) -> F:
    """Turn a library error into `Error: …` on stderr and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MediaCatalogError as exc:
            _stderr().print(f"Error: {exc}", markup=False)
            raise typer.Exit(1) from None
        except FAILURES as exc:
            message = failure(exc, kwargs.get("db") or Path(DEFAULT_PATH))
            if message is None:
                raise  # not the catalogue's doing: a bug to report
            _stderr().print(f"Error: {message}", markup=False)
            raise typer.Exit(1) from None
        except (KeyError, TypeError, ValueError, AttributeError):
            found = _damage(kwargs.get("db"))
            if found is None:
                raise  # not the catalogue's doing: a bug to report
            _stderr().print(f"Error: {found}", markup=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _assets(values: list[str]) -> tuple[list[Path], list[str]]:
    """--assets values: the folders (which must exist) and the object-store prefixes."""
    from .objects import is_object_url

    folders, stores = [], []
    for value in values:
        if is_object_url(value):
            stores.append(value)
        elif Path(value).is_dir():
            folders.append(Path(value))
        else:
            raise typer.BadParameter(
                f"{value} is no folder (nor an s3://, gs:// or az:// prefix)",
                param_hint="--assets",
            )
    return folders, stores


def _version(value: bool) -> None:
    if value:
        typer.echo(f"media-catalog {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Catalogue the images embedded in articles; report duplicates; look up and search."""


def _context_chars() -> int:
    from .extract import CONTEXT_CHARS

    return CONTEXT_CHARS


@app.command()
@_handle_errors
def scan(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Article files, image files or folders; with --out also object-store "
            "prefixes (s3://bucket/prefix, gs://…, az://…)."
        ),
    ],
    context: Annotated[
        int,
        typer.Option(
            default_factory=_context_chars,
            show_default=False,
            help="Characters of text kept before and after each image [default: 200].",
            min=0,
        ),
    ],  # first: it has no plain default (the extractor's, read when scanning)
    db: DbOption = Path(DEFAULT_PATH),
    assets: Annotated[
        list[str] | None,
        typer.Option(
            "--assets",
            help="Folder that resolves content-addressed keys (repeatable); also an allowed root. "
            "Or an object-store prefix: s3://bucket/prefix, gs://…, az://… (cached in DB.cache/).",
        ),
    ] = None,
    threshold: ThresholdOption = DEFAULT_THRESHOLD,
    prune: Annotated[
        bool, typer.Option(help="Forget catalogued files under PATHS that no longer exist.")
    ] = False,
    save_every: Annotated[
        float,
        typer.Option(help="Save progress every this many seconds (a killed scan resumes).", min=0),
    ] = 60.0,
    text_field: Annotated[
        str | None, typer.Option(help="JSON Lines: the field holding the article text or HTML.")
    ] = None,
    url_field: Annotated[
        str | None, typer.Option(help="JSON Lines: the field holding the article URL.")
    ] = None,
    title_field: Annotated[
        str | None, typer.Option(help="JSON Lines: the field holding the article title.")
    ] = None,
    strict: Annotated[bool, typer.Option(help="Exit 1 when any item error was recorded.")] = False,
    workers: Annotated[
        int | None,
        typer.Option(help="Processes that fingerprint images [default: all cores].", min=1),
    ] = None,
    image_seconds: Annotated[
        float,
        typer.Option(help="Seconds an image may take to decode (else: error too-slow).", min=0.1),
    ] = IMAGE_SECONDS,
    fetch: Annotated[
        bool,
        typer.Option(
            help="Download images named by http(s) URLs (cached beside the catalogue in "
            "DB.cache/; public addresses only)."
        ),
    ] = False,
    allow_private: Annotated[
        bool,
        typer.Option(help="With --fetch: also fetch from loopback and private addresses."),
    ] = False,
    refresh: Annotated[
        bool,
        typer.Option(help="With --fetch: ask again for cached images (ETag, Last-Modified)."),
    ] = False,
    concurrency: Annotated[
        int, typer.Option(help="With --fetch: downloads at once, in all.", min=1, max=256)
    ] = 32,
    per_host: Annotated[
        int, typer.Option(help="With --fetch: downloads at once from one host.", min=1, max=64)
    ] = 4,
    max_bytes: Annotated[
        int,
        typer.Option(
            help="Largest image read from the web or an object store, in bytes (else: "
            "error too-large).",
            min=1,
        ),
    ] = MAX_FETCH_BYTES,
    endpoint_url: Annotated[
        str | None,
        typer.Option(help="The S3 endpoint of s3:// --assets (MinIO, a local store…)."),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            help="With --fetch: the URL relative references are joined to when an article "
            "states none (canonical, og:url, a JSON Lines URL field, a web archive's)."
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="No progress bar (there is none when not a terminal)."),
    ] = False,
    format: FormatOption = Format.table,
    out: Annotated[
        str | None,
        typer.Option(
            help="Write a sharded run to this folder or object-store prefix (s3://bucket/run; "
            "Parquet, a file per shard and table) instead of a catalogue; `import OUT` brings "
            "it into one. Needs the dask extra.",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="With --out: where shards run: local (a Dask LocalCluster of --workers "
            "processes), a Dask scheduler address (tcp://host:8786), or none (this process) "
            "[default: local].",
            show_default=False,
        ),
    ] = None,
    shard_size: Annotated[
        int | None,
        typer.Option(
            help="With --out: files per shard (a web archive or JSON Lines dump is one alone) "
            "[default: 10000].",
            min=1,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Scan articles and image files into the catalogue.

    Walks folders recursively: HTML, Markdown, text corpora with inline image tags, JSON Lines
    dumps, web archives (WARC: their pages' images resolve in them), and loose images. Bad
    items are recorded as errors and the scan goes on. A re-scan skips files whose size and
    modification time are unchanged (and articles whose bytes are unchanged); --prune forgets
    files that vanished. Images are fingerprinted in parallel; a
    progress bar shows the rate and time left on a terminal.

    With --out, the scan is cut into shards that run on Dask (--scheduler), each written
    as Parquet; running the same command again runs only the shards not done.

    \b
    Examples: media-catalog scan samples/ --assets samples/assets --db samples.json --prune
              media-catalog scan crawl/ --out run/ --scheduler tcp://head:8786
    """
    from .extract import ExtractOptions
    from .objects import object_url
    from .pipeline import scan as run_scan

    inputs: list[Path | str] = [object_url(path) or path for path in paths]
    remote = [name for name in inputs if isinstance(name, str)]
    if remote and out is None:
        raise QueryError(
            f"{remote[0]} is in an object store: a sharded scan reads such inputs; give --out"
        )
    missing = [str(path) for path in inputs if isinstance(path, Path) and not path.exists()]
    if missing and not prune:
        raise typer.BadParameter(
            f"no such file or folder: {', '.join(missing)}. Check the path; to forget what "
            "was catalogued there, scan it with --prune.",
            param_hint="PATHS",
        )
    folders, stores = _assets(assets or [])
    options = ExtractOptions(context, text_field, url_field, title_field)
    if out is not None:
        refused = [("--prune", prune), ("--fetch", fetch), ("object-store --assets", stores)]
        for name, given in refused:
            if given:
                raise QueryError(f"{name} does not work with --out yet; scan without --out")
        _sharded(inputs, folders, options, out, endpoint_url, scheduler or "local", shard_size,
                 workers, image_seconds, quiet, strict, format, db)  # fmt: skip
        return
    if scheduler is not None or shard_size is not None:
        raise QueryError("--scheduler and --shard-size cut a scan into shards: give --out too")
    catalog = open_store(db)
    cache = _cache(catalog.path)
    objects = None
    if stores or (fetch and find_spec("obstore") is not None):
        from .objects import ObjectAssets

        objects = ObjectAssets(
            stores, cache, endpoint=endpoint_url, max_bytes=max_bytes, public=fetch
        )
    if fetch:
        try:
            from .fetch import Fetcher
        except ImportError as exc:
            raise QueryError("--fetch needs httpx: pip install 'media-catalog[fetch]'") from exc
    shown = not quiet and _stderr().is_terminal
    bars = [("scanning", "files"), *([("fetching", "images")] if fetch else [])]
    with _progress_bars(shown, *bars) as (progress, *fetched):
        fetcher = None
        if fetch:
            fetcher = Fetcher(
                cache,
                allow_private=allow_private,
                refresh=refresh,
                max_bytes=max_bytes,
                concurrency=concurrency,
                per_host=per_host,
                progress=fetched[0],
            )
        try:
            summary = run_scan(
                paths,
                catalog,
                assets=folders,
                threshold=threshold,
                prune=prune,
                save_every=save_every,
                options=options,
                workers=workers,
                image_seconds=image_seconds,
                fetcher=fetcher,
                base_url=base_url,
                objects=objects,
                progress=progress,
                on_wait=_waiting(db),
            )
        finally:
            if fetcher is not None:
                fetcher.close()
    counts = summary.to_dict()
    if format is Format.json:
        typer.echo(render.to_json(counts))
    else:
        render.summary(_stdout(), counts)
        if summary.unresolved:
            _stderr().print(
                f"{render.counted(summary.unresolved, 'reference')} led to no image; "
                f"`media-catalog search unresolved:yes --db {db}` says why (a local image "
                "outside the scanned paths is read only if its folder is scanned too or "
                "given with --assets).",
                markup=False,
            )
        if summary.errors:
            _stderr().print(
                f"{render.counted(summary.errors, 'item')} could not be read; "
                f"`media-catalog export --db {db}` lists them.",
                markup=False,
            )
        if summary.exact_clusters is None:
            _stderr().print(
                f"Duplicate clusters are not counted at every scan of a catalogue this large; "
                f"`media-catalog dupes --db {db}` reports them.",
                markup=False,
            )
    advice = move_advice(catalog)
    if advice:
        _stderr().print(advice, markup=False)
    if strict and summary.errors:
        raise typer.Exit(1)


def _sharded(
    paths: list[Path | str],
    assets: list[Path],
    options: Any,
    where: str,
    endpoint: str | None,
    scheduler: str,
    shard_size: int | None,
    workers: int | None,
    image_seconds: float,
    quiet: bool,
    strict: bool,
    format: Format,
    db: Path,
) -> None:
    """`scan --out`: plan the run (or read its plan), run the shards not done, summarise (a
    catalogue `db` other than the default is named in the import it suggests: a sharded scan
    writes none)."""
    catalogue = db if db != Path(DEFAULT_PATH) else Path("catalogue.sqlite")
    from .cluster import check_scheduler, run_plan
    from .shards import RunFolder, plan_run

    check_scheduler(scheduler)
    out = RunFolder(where, endpoint)
    if not out.remote and Path(where).is_file():
        raise QueryError(f"--out {where} is a file; give a folder (made if absent)")
    plan = plan_run(
        paths, out, assets=assets, shard_size=shard_size, image_seconds=image_seconds,
        options=options, endpoint=endpoint,
    )  # fmt: skip
    shown = not quiet and _stderr().is_terminal

    def started(dashboard: str | None) -> None:
        if dashboard and format is not Format.json:
            _stderr().print(f"Dask dashboard: {dashboard}", markup=False)

    def warn(message: str) -> None:
        _stderr().print(f"Warning: {message}", markup=False)

    summary = run_plan(
        plan, out, scheduler, workers=workers, on_start=started, on_warning=warn,
        show_progress=shown,
    )  # fmt: skip
    if format is Format.json:
        typer.echo(render.to_json({**summary.to_dict(), "out": str(out)}))
    else:
        render.summary(_stdout(), summary.to_dict(), "Sharded scan summary")
        local = not out.remote
        if summary.counts.get("unresolved") and local:
            _stderr().print(
                f"{render.counted(summary.counts['unresolved'], 'reference')} led to no image; "
                f"`media-catalog search unresolved:yes --db {out}` says why.",
                markup=False,
            )
        if summary.counts.get("errors") and local:
            _stderr().print(
                f"{render.counted(summary.counts['errors'], 'item')} could not be read; "
                f"`media-catalog export --db {out}` lists them.",
                markup=False,
            )
        if not summary.failed:
            _stderr().print(
                f"Ask it where it lies with --db {out}, or bring it into a catalogue: "
                f"media-catalog import {out} --db {catalogue}",
                markup=False,
            )
    if summary.failed:
        for number, why in sorted(summary.failed.items()):
            _stderr().print(f"shard {number} failed: {why}", markup=False)
        _stderr().print(
            f"{render.counted(len(summary.failed), 'shard')} failed; run the same command "
            "again to run them again (the done shards are kept).",
            markup=False,
        )
        raise typer.Exit(1)
    if strict and summary.counts.get("errors"):
        raise typer.Exit(1)


def _cache(db: Path) -> Path:
    """The folder beside catalogue `db` that keeps what can be made again (DB.cache/)."""
    return db.with_name(db.name + ".cache")


def _waiting(db: Path) -> Callable[[], None]:
    """What a writer says when another process writing the catalogue makes it wait."""
    return lambda: _stderr().print(
        f"Waiting for another process writing {db} to commit…", markup=False
    )


@app.command("import")
@_handle_errors
def import_(
    files: Annotated[
        list[str],
        typer.Argument(
            help="Exports (export --format json or jsonl), catalogues (JSON or SQLite), or "
            "the --out folder or object-store prefix of a sharded scan.",
        ),
    ],
    db: DbOption = Path(DEFAULT_PATH),
    format: FormatOption = Format.table,
) -> None:
    """Merge exports or other catalogues into the catalogue.

    Each article a FILE brings replaces what the catalogue knew of it; images and the files
    holding them are added. This is how a catalogue moves to SQLite and how two desks'
    catalogues become one; `export` then `import` gives the same catalogue back.

    \b
    Examples: media-catalog import media-catalog.json --db archive.sqlite
              media-catalog export --db desk-a.json > a.json
              media-catalog import a.json desk-b.sqlite --db merged.sqlite
    """
    from .merge import import_files
    from .objects import is_object_url

    for name in files:
        if not is_object_url(name) and not Path(name).exists():
            raise typer.BadParameter(f"{name} does not exist.", param_hint="FILES")
    summary = import_files(open_store(db), files, on_wait=_waiting(db))
    if format is Format.json:
        typer.echo(render.to_json(summary.to_dict()))
    else:
        render.summary(_stdout(), summary.to_dict(), "Import summary")


class DupesFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    html = "html"


class Sort(str, Enum):
    size = "size"
    reach = "reach"
    first_seen = "first-seen"


@app.command()
@_handle_errors
def dupes(
    db: DbOption = Path(DEFAULT_PATH),
    threshold: ThresholdOption = DEFAULT_THRESHOLD,
    min_articles: Annotated[
        int, typer.Option(help="Only clusters used in at least this many articles.", min=0)
    ] = 0,
    sort: Annotated[
        Sort,
        typer.Option(
            help="size: exact, then near, largest first; reach: most articles; first-seen: "
            "oldest first use first (by article date, else when fetched or archived)."
        ),
    ] = Sort.size,
    transforms: Annotated[
        bool,
        typer.Option(
            help="Keep the mirrored and quarter-turned copies the hashes match unless their "
            "pixels show two photos (by default, only those their pixels confirm)."
        ),
    ] = False,
    robust: Annotated[
        bool,
        typer.Option(
            help="Also find cropped, turned and mirrored copies, each verified by keypoints "
            "and pixels, and leave out look-alikes the hashes pair (reads the image files; "
            "features cached in DB.cache/)."
        ),
    ] = False,
    ignore: Annotated[
        Path | None,
        typer.Option(help="File of SHA-256s / pHashes to leave out, one per line.", dir_okay=False),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option(
            help="Folder of known photos: report which catalogued images match each.",
            file_okay=False,
        ),
    ] = None,
    include_low_information: Annotated[
        bool, typer.Option(help="Also match blank and flat images (left out by default).")
    ] = False,
    include_furniture: Annotated[
        bool, typer.Option(help="Keep site furniture (logos, icons, ads).")
    ] = False,
    tracking: Annotated[
        bool, typer.Option(help="Include tracking pixels, spacers and 1×1 images.")
    ] = False,
    format: Annotated[
        DupesFormat, typer.Option("--format", "-f", help="Output format.")
    ] = DupesFormat.table,
    scheduler: Annotated[
        str,
        typer.Option(
            help="Where the near-pair search runs: none (here), local (a Dask LocalCluster of "
            "all cores) or a Dask scheduler address (tcp://host:8786); the same report.",
        ),
    ] = "none",
) -> None:
    """Report duplicate images: exact reuse (same bytes) and near duplicates (same photo).

    Each cluster names a keeper and lists every place the photo was used, with its alt text,
    caption and credit there. Site furniture (an image in a large share of the articles),
    tracking pixels and blank images are left out unless asked.

    \b
    Examples: media-catalog dupes --db samples.json --threshold 8 --format json
              media-catalog dupes --min-articles 2 --sort reach --format html > report.html
              media-catalog dupes --reference agency-photos/ --transforms
              media-catalog dupes --robust --format json > crops.json
              media-catalog dupes --db archive.sqlite --scheduler tcp://head:8786 -f json
    """
    from . import reports
    from .hamming import pairs_within
    from .similarity import duplicate_report, read_ignore_list, reference_matches

    if scheduler != "none":
        from .cluster import check_scheduler

        check_scheduler(scheduler)
    catalog = open_store(db, create=False)
    if reference is not None:
        if robust:
            raise QueryError(
                "--robust does not combine with --reference; use "
                "`media-catalog lookup --image FILE --robust` for each known photo"
            )
        if format is DupesFormat.html:
            raise QueryError("--reference reports as table, json or csv, not html")
        found = reference_matches(catalog, reference, threshold, transforms=transforms)
        if format is DupesFormat.json:
            typer.echo(render.to_json({"threshold": threshold, "reference": found}))
        elif format is DupesFormat.csv:
            typer.echo(reports.reference_csv(found), nl=False)
        else:
            render.reference(_stdout(), threshold, found)
        return
    with ExitStack() as stack:
        search = pairs_within
        if scheduler != "none":
            from .cluster import ClusterSearch, dask_client

            search = ClusterSearch(stack.enter_context(dask_client(scheduler)))
        report = duplicate_report(
            catalog,
            threshold,
            min_articles=min_articles,
            sort=sort.value,
            ignore=read_ignore_list(ignore) if ignore is not None else (),
            transforms=transforms,
            robust=_cache(db) if robust else None,
            include_low_information=include_low_information,
            include_furniture=include_furniture,
            tracking=tracking,
            search=search,
        )
    if report.oversized is not None and format is not DupesFormat.json:
        _stderr().print(
            f"{render.counted(report.oversized['buckets'], 'oversized bucket')} "
            f"({render.counted(report.oversized['codes'], 'code')}) were left out of the "
            "near-pair search (README, dupes: Oversized buckets).",
            markup=False,
        )
    checked = report.checked if format is not DupesFormat.json else None  # (JSON has them)
    if checked and checked["refuted"]:
        _stderr().print(
            f"{render.counted(checked['refuted'], 'pair')} the hashes matched were left "
            "out: their pictures show different photos (README, dupes).",
            markup=False,
        )
    if checked and checked["unconfirmed"] and not transforms:
        _stderr().print(
            f"{render.counted(checked['unconfirmed'], 'mirrored or turned pair')} the hashes "
            "matched were left out: their pictures neither confirm nor refute them "
            "(--transforms keeps them).",
            markup=False,
        )
    if checked and checked["unchecked"]:
        _stderr().print(
            f"{render.counted(checked['unchecked'], 'pair')} could not be checked against "
            "their pictures (the files are gone or too small, or OpenCV is not installed: "
            "pip install 'media-catalog[robust]'): the hashes decided pairs of whole "
            + (
                "pictures, and kept mirrored or turned ones (--transforms)."
                if transforms
                else "pictures; mirrored or turned ones were left out (--transforms keeps them)."
            ),
            markup=False,
        )
    if format is DupesFormat.json:
        render.json_stream(typer.get_binary_stream("stdout"), report.members())
    elif format is DupesFormat.csv:
        sys.stdout.writelines(reports.to_csv(report.members()))
    elif format is DupesFormat.html:
        typer.echo(reports.to_html(report.to_dict()), nl=False)
    else:
        render.clusters(_stdout(), threshold, report.to_dict()["clusters"])


@app.command()
@_handle_errors
def lookup(
    hash: Annotated[
        str | None,
        typer.Argument(
            help="16 hex digits: a pHash. 6 to 64 other hex digits, or sha256:PREFIX: a SHA-256 "
            "or a prefix of one (dupes and search print 12 digits)."
        ),
    ] = None,
    image: Annotated[
        Path | None,
        typer.Option("--image", help="Hash this image file and look it up.", dir_okay=False),
    ] = None,
    db: DbOption = Path(DEFAULT_PATH),
    distance: DistanceOption = DEFAULT_THRESHOLD,
    transforms: Annotated[
        bool,
        typer.Option(
            "--transforms",
            help="With --image: also match the file mirrored or turned by quarter turns.",
        ),
    ] = False,
    robust: Annotated[
        bool,
        typer.Option(
            "--robust",
            help="With --image: also find the images it is a crop of, or that crop it, "
            "turned or mirrored, each verified (features cached in DB.cache/).",
        ),
    ] = False,
    format: FormatOption = Format.table,
) -> None:
    """Find catalogued images by hash, or by an image file; closest first.

    \b
    Examples: media-catalog lookup c0371bec1be51267 --distance 6
              media-catalog lookup cffc1fcde347
              media-catalog lookup sha256:fa06a17b
              media-catalog lookup --image photo.jpg
              media-catalog lookup --image photo.jpg --transforms
              media-catalog lookup --image crop.jpg --robust --format json
    """
    from .query import lookup as find_hash
    from .query import lookup_image

    if (hash is None) == (image is None):
        raise QueryError("give either a HASH or --image FILE (one of them)")
    if (transforms or robust) and image is None:
        option = "--transforms" if transforms else "--robust"
        raise QueryError(f"{option} needs --image FILE: a hash cannot be cropped or turned")
    catalog = open_store(db, create=False)
    found = (
        lookup_image(
            catalog, image, distance, transforms=transforms, robust=_cache(db) if robust else None
        )
        if image is not None
        else find_hash(catalog, hash or "", distance)
    )
    if format is Format.json:
        typer.echo(render.to_json({"matches": found}))
    else:
        render.matches(_stdout(), found)


TABLE_LIMIT = 100  # search results a table shows unless told


@app.command()
@_handle_errors
def search(
    query: Annotated[
        str,
        typer.Argument(
            help='Words, "phrases" and field:value terms; all must match; -term negates.'
        ),
    ],
    db: DbOption = Path(DEFAULT_PATH),
    limit: Annotated[
        int | None,
        typer.Option(
            help="Show the first N results; 0 shows all [default: 100 in a table, all in JSON].",
            min=0,
            show_default=False,
        ),
    ] = None,
    format: FormatOption = Format.table,
) -> None:
    """Search occurrences with a query: free words, "quoted phrases" and field:value terms.

    Fields: alt caption credit title article article_title src (text), format, camera,
    taken:2015..2016, width:>1000, height:<500, uses:>1, dup:yes, unresolved:yes,
    error:yes, credited:markup|label|pattern|none. A leading - negates a term (put --
    before a query that starts with -). Text matching folds case, Persian/Arabic letter
    variants (ي/ی, ك/ک), digits and zero-width joiners.

    \b
    Examples: media-catalog search "حسکه"
              media-catalog search 'caption:"market hall" width:>1000 -format:png'
              media-catalog search -- '-unresolved:yes uses:>1'
              media-catalog search "market" --limit 0
    """
    from .query import search_json, search_page

    catalog = open_store(db, create=False)
    if format is Format.json:
        total, raw = search_json(catalog, query, limit or None)
        render.search_json(typer.get_binary_stream("stdout"), raw, total)
        return
    total, found = search_page(catalog, query, TABLE_LIMIT if limit is None else limit or None)
    render.results(_stdout(), found, total)


@app.command()
@_handle_errors
def show(
    sha256: Annotated[str, typer.Argument(help="A SHA-256 or a unique prefix of one.")],
    db: DbOption = Path(DEFAULT_PATH),
    distance: DistanceOption = DEFAULT_THRESHOLD,
    history: Annotated[
        bool,
        typer.Option(
            "--history",
            help="Also list every use of the photo and its near copies, oldest first, with "
            "the caption and credit each time (JSON always has it).",
        ),
    ] = False,
    format: FormatOption = Format.table,
) -> None:
    """Show one image: its metadata, every file and every place it is used (alt, caption,
    context), its near duplicates, and with --history when and where it was first used.

    Example: media-catalog show fa06a17b --history
    """
    from .query import show as show_image

    shown = show_image(open_store(db, create=False), sha256, distance)
    if format is Format.json:
        typer.echo(render.to_json(shown))
    else:
        render.image_detail(_stdout(), shown)
        if history:
            render.history(_stdout(), shown["history"], shown["image"]["sha256"])


@app.command()
@_handle_errors
def stats(
    db: DbOption = Path(DEFAULT_PATH),
    threshold: ThresholdOption = DEFAULT_THRESHOLD,
    format: FormatOption = Format.table,
) -> None:
    """Count what the catalogue holds: images by format and size, articles, errors by code,
    duplicate clusters, unresolved references by reason.

    Example: media-catalog stats --db archive.json --format json
    """
    from .query import stats as catalogue_stats

    counts = catalogue_stats(open_store(db, create=False), threshold)
    if format is Format.json:
        typer.echo(render.to_json(counts))
    else:
        render.stats(_stdout(), counts)


class ExportFormat(str, Enum):
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    dataset = "dataset"


@app.command()
@_handle_errors
def export(
    db: DbOption = Path(DEFAULT_PATH),
    format: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-f",
            help="json: everything; jsonl: one image per line; csv: one row per occurrence "
            "with its image's fields; dataset: image-text pairs, one JSON row per occurrence.",
        ),
    ] = ExportFormat.json,
) -> None:
    """Print the whole catalogue: images with their occurrences, unresolved references, errors.

    \b
    Examples: media-catalog export --db samples.json > catalogue.json
              media-catalog export --format csv > occurrences.csv
              media-catalog export --format dataset > pairs.jsonl
    """
    from .export import dataset_rows, occurrence_rows

    catalog = open_store(db, create=False)
    if format is ExportFormat.json:
        render.json_stream(typer.get_binary_stream("stdout"), catalog.contract_lists())
        return
    if format is ExportFormat.csv:
        lines = render.csv_rows(occurrence_rows(catalog))
    else:
        images = catalog.contract_lists()["images"]
        rows = images if format is ExportFormat.jsonl else dataset_rows(catalog)
        lines = render.json_lines(rows)
    for line in lines:
        sys.stdout.write(line)


class AuditFormat(str, Enum):
    table = "table"
    json = "json"
    html = "html"


class Severity(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


@app.command()
@_handle_errors
def audit(
    db: DbOption = Path(DEFAULT_PATH),
    article: Annotated[
        Path | None, typer.Option(help="Audit only this scanned article file.", dir_okay=False)
    ] = None,
    fail_on: Annotated[
        Severity | None,
        typer.Option(help="Exit 1 when a finding of this severity or worse exists."),
    ] = None,
    format: Annotated[
        AuditFormat, typer.Option("--format", "-f", help="Output format.")
    ] = AuditFormat.table,
    max_alt_length: Annotated[
        int, typer.Option(help="Longest acceptable alt text, in characters.", min=1)
    ] = DEFAULT_MAX_ALT_LENGTH,
) -> None:
    """Audit alt text and captions: missing, placeholder, redundant, shared, conflicting.

    Reports findings per article, worst first; rules and what to write instead are in the
    README. With --fail-on it can gate a publishing pipeline.

    Example: media-catalog audit --db samples.json --fail-on error --format html > audit.html
    """
    from .audit import SEVERITIES, to_html
    from .audit import audit as run_audit

    catalog = open_store(db, create=False)
    try:
        report = run_audit(
            catalog,
            max_alt_length=max_alt_length,
            article=os.path.abspath(article) if article is not None else None,
        )
    except QueryError as exc:  # an --article it does not know: a usage error, status 2
        raise typer.BadParameter(str(exc), param_hint="--article") from None
    if format is AuditFormat.json:
        typer.echo(render.to_json(report.to_dict()))
    elif format is AuditFormat.html:
        typer.echo(to_html(report))
    else:
        render.audit(_stdout(), report.to_dict())
    worst = report.worst()
    failing = fail_on is not None and worst is not None
    if failing and SEVERITIES.index(worst) <= SEVERITIES.index(fail_on.value):
        raise typer.Exit(1)


@app.command()
@_handle_errors
def serve(
    db: DbOption = Path(DEFAULT_PATH),
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8765,
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on. Another than 127.0.0.1 lets anyone who reaches it "
            "read the catalogue."
        ),
    ] = "127.0.0.1",
) -> None:
    """Browse the catalogue in a web browser: search, every place and caption of an image
    and its history, duplicate clusters with thumbnails, the audit. Read-only; local only
    unless --host says otherwise. Ctrl-C stops it.

    Example: media-catalog serve --db archive.sqlite --port 8765
    """
    try:
        import uvicorn

        from .serve import make_app
    except ImportError as exc:
        raise QueryError(
            "serve needs Starlette, Jinja2 and uvicorn: pip install 'media-catalog[serve]'"
        ) from exc
    catalog = open_store(db, create=False, read_only=True)  # (missing: said now, not per page)
    named = f"[{host}]" if ":" in host else host  # an IPv6 address, as a URL and Host name it
    hosts = ["127.0.0.1", "localhost", "[::1]", named.lower()]
    if host in ("0.0.0.0", "::"):  # every address of the machine: any name may reach it
        hosts = ["*"]
    url = f"http://{named}:{port}/"
    _stderr().print(f"Serving {catalog.path} at {url} (Ctrl-C stops)", markup=False)
    if host not in ("127.0.0.1", "localhost", "::1"):
        _stderr().print(
            f"Listening on {host}: anyone who can reach it can read the catalogue.", markup=False
        )
    uvicorn.run(make_app(catalog.path, hosts), host=host, port=port, log_level="warning")


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
