"""A scan cut into shards: the plan, the pure shard task, and its Parquet output.

`plan_run` walks the inputs once and writes `OUT/plan.json`: the shards (a web archive or a
JSON Lines dump alone, other files in runs of `shard_size` in walk order) and the settings
every shard is read with. A re-run reads that plan again, so shards never change.

`scan_shard` is a pure function of the plan and a shard's number: it scans the shard's files
(references resolve in the run's roots and asset folders) and returns Arrow tables of what it
found. `write_shard` writes each table to `OUT/TABLE/NNNNNN.parquet` and then the done marker
`OUT/done/NNNNNN.json` (the shard's counts), each file whole or not at all (`RunFolder`: a
local folder or an object-store prefix): a shard without its marker is not done, whatever
files it left. `run_records` reads the done shards
back as `import` records. Engines (media_catalog.cluster) only decide where shards run.
"""

from __future__ import annotations

import fcntl
import io
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from .atomic import write_whole
from .errors import CatalogError, QueryError
from .extract import ExtractOptions
from .models import IMAGE_SECONDS, ItemError
from .objects import Mirror, is_object_url, list_prefix
from .records import OccurrenceRecord
from .resolve import DEFAULT_MAX_BYTES
from .store import open_store
from .walk import SourceFile, kind_of, walk

if TYPE_CHECKING:
    import pyarrow as pa

PLAN = "plan.json"
PLAN_FORMAT = 2  # 2: the shard size, a part's first shard and the S3 endpoint are kept
SHARD_SIZE = 10_000  # files in a shard (a web archive or JSON Lines dump is one alone)
ALONE = ("warc", "jsonl")  # kinds that hold many articles: a shard each
TABLES = ("images", "files", "occurrences", "errors", "sources")


class RunFolder:
    """Where a run is written: a local folder, or a prefix in an object store
    (`s3://bucket/prefix`, `gs://…`, `az://…`, read and written with obstore as object-store
    assets are; an object is written whole, so it is all there or absent). Files are named
    by their path in the run (`plan.json`, `images/000001.parquet`)."""

    def __init__(self, where: str | Path, endpoint: str | None = None) -> None:
        where = str(where)
        # (absolute: workers elsewhere, in other folders, must write where this process reads)
        self.where = where.rstrip("/") if is_object_url(where) else os.path.abspath(where)
        self.endpoint = endpoint
        self._store: Any = None

    def __str__(self) -> str:
        return self.where

    def __getstate__(self) -> dict[str, Any]:  # (sent to workers: they open their own client)
        return {**self.__dict__, "_store": None}

    @property
    def remote(self) -> bool:
        return is_object_url(self.where)

    def _client(self) -> Any:
        if self._store is None:
            from .objects import prefix_store

            self._store = prefix_store(self.where, self.endpoint)
        return self._store

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        if not self.remote:
            try:
                return Path(self.where, name).read_bytes()
            except FileNotFoundError:
                return None
        import obstore

        try:
            return bytes(obstore.get(self._client(), name).bytes())
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes) -> None:
        """Write the file at once: whole or not at all (a temporary file renamed)."""
        if self.remote:
            import obstore

            obstore.put(self._client(), name, data)
            return
        write_whole(Path(self.where, name), data)

    def names(self, folder: str) -> list[str]:
        """The names of the files in `folder` of the run."""
        if not self.remote:
            try:
                return [entry.name for entry in os.scandir(Path(self.where, folder))]
            except FileNotFoundError:
                return []
        import obstore

        listed = obstore.list(self._client(), folder).collect()
        return [entry["path"].rsplit("/", 1)[-1] for entry in listed]


def arrow() -> Any:
    """pyarrow, with its parquet and compute modules loaded; QueryError naming the extra."""
    try:
        import pyarrow
        import pyarrow.compute
        import pyarrow.parquet
    except ImportError as exc:
        raise QueryError(
            "a sharded run needs pyarrow and Dask: pip install 'media-catalog[dask]'"
        ) from exc
    return pyarrow


@dataclass
class Plan:
    """What a run reads, cut into shards, and how: the allowed roots (`paths`, absolute),
    asset folders, extraction options and limits; errors the walk met (not in any shard)."""

    paths: list[str]
    assets: list[str]
    shards: list[list[tuple[str, str]]]  # per shard: (path, kind) of each file
    max_bytes: int = DEFAULT_MAX_BYTES
    image_seconds: float = IMAGE_SECONDS
    options: dict[str, Any] = field(default_factory=lambda: asdict(ExtractOptions()))
    shard_size: int = SHARD_SIZE
    endpoint: str | None = None  # the S3 endpoint of object-store inputs
    errors: list[dict[str, Any]] = field(default_factory=list)
    first: int = 0  # the number of shards[0] (`part`)
    format: int = PLAN_FORMAT

    def inputs(self) -> tuple[Any, ...]:
        """What a plan is of: a run folder is re-used only for the same."""
        settings = self.max_bytes, self.image_seconds, self.options, self.endpoint
        return self.paths, self.assets, *settings

    def part(self, number: int) -> Plan:
        """The plan of shard `number` alone, what one task is sent: the same settings, that
        shard's files, no walk errors."""
        shard = self.shards[number - self.first]
        return replace(self, shards=[shard], errors=[], first=number)

    def to_bytes(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2)

    @classmethod
    def load(cls, out: RunFolder) -> Plan | None:
        """The plan in run folder `out`, or None when there is none."""
        try:
            raw = out.read(PLAN)
            if raw is None:
                return None
            data = orjson.loads(raw)
        except (OSError, orjson.JSONDecodeError) as exc:
            raise CatalogError(f"cannot read the run's plan {out}/{PLAN}: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            found = data.get("format") if isinstance(data, dict) else None
            raise CatalogError(
                f"{out}/{PLAN} is no plan of format {PLAN_FORMAT} (found {found!r}): made by "
                "another version of media-catalog, or edited; give another --out folder"
            )
        try:
            data["shards"] = [[(str(p), str(k)) for p, k in shard] for shard in data["shards"]]
            return cls(**data)
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(
                f"{out}/{PLAN} is damaged ({type(exc).__name__}: {exc}); give another --out "
                "folder, or remove that one to start again"
            ) from exc


def plan_run(
    paths: Iterable[Path | str],
    out: RunFolder,
    *,
    assets: Iterable[Path] = (),
    shard_size: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    image_seconds: float = IMAGE_SECONDS,
    options: ExtractOptions | None = None,
    endpoint: str | None = None,
) -> Plan:
    """The plan of run folder `out`: the one written there before (when it is of the same
    inputs and settings, and `shard_size` if given, else CatalogError), or a new one, walked
    now and written (`shard_size` files a shard, default SHARD_SIZE). A path may be an
    object-store prefix (`s3://bucket/prefix`, its objects listed; `endpoint` for S3)."""
    plan = Plan(
        paths=[_input(p) for p in paths],
        assets=[os.path.abspath(a) for a in assets],
        shards=[],
        max_bytes=max_bytes,
        image_seconds=image_seconds,
        options=asdict(options or ExtractOptions()),
        shard_size=shard_size or SHARD_SIZE,
        endpoint=endpoint,
    )
    old = Plan.load(out)
    if old is not None:
        if old.inputs() != plan.inputs():
            raise CatalogError(
                f"{out} holds a run of other inputs or settings ({', '.join(old.paths)}); "
                "give another --out folder, or remove that one to start again"
            )
        if shard_size not in (None, old.shard_size):
            raise CatalogError(
                f"{out} holds a run cut into shards of {old.shard_size:,} files; run it again "
                f"with --shard-size {old.shard_size} (or none), or give another --out folder"
            )
        return old
    errors: list[ItemError] = []
    allowed = [Path(os.path.realpath(a)) for a in plan.assets]
    batch: list[tuple[str, str]] = []
    local = [Path(p) for p in plan.paths if not is_object_url(p)]
    found = [(str(source.path), source.kind) for source in walk(local, errors, allowed)]
    for prefix in (p for p in plan.paths if is_object_url(p)):
        listed = list_prefix(prefix, endpoint)
        found += [(url, kind) for url, _ in listed if (kind := kind_of(Path(url))) is not None]
    for entry in found:
        if entry[1] in ALONE:
            plan.shards.append([entry])
            continue
        batch.append(entry)
        if len(batch) >= plan.shard_size:
            plan.shards.append(batch)
            batch = []
    if batch:
        plan.shards.append(batch)
    plan.errors = [error.to_dict() for error in errors]
    try:
        out.write(PLAN, plan.to_bytes())
    except OSError as exc:
        raise CatalogError(f"cannot write the run's plan to {out}: {exc}") from exc
    return plan


def _input(path: Path | str) -> str:
    """An input as a plan names it: a local path made absolute, or an object-store prefix."""
    return str(path).rstrip("/") if is_object_url(str(path)) else os.path.abspath(path)


def shard_name(number: int) -> str:
    return f"{number:06d}"


@dataclass
class Shard:
    """What one shard found: a table for each of TABLES, and its counts."""

    tables: dict[str, pa.Table]
    counts: dict[str, int]


_SCRATCH = "media-catalog-shard-"
_LOCK = ".lock"  # held (flock) by the process scanning in the folder, while it does


@contextmanager
def _scratch() -> Iterator[Path]:
    """A scratch folder for one shard's scan, removed after; the scan holds its lock, so
    another shard's clean-up (`_clean_up_after_the_dead`) passes it by."""
    with (
        tempfile.TemporaryDirectory(prefix=_SCRATCH) as folder,
        open(Path(folder, _LOCK), "w") as lock,
    ):
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield Path(folder)


def _clean_up_after_the_dead() -> None:
    """Remove the scratch folders of shard scans whose process died (a worker lost to a
    crash leaves its folder behind): those whose lock nobody holds, made over a minute ago
    (a younger folder's scan may not have taken its lock yet)."""
    for entry in Path(tempfile.gettempdir()).glob(f"{_SCRATCH}*"):
        try:
            if time.time() - entry.stat().st_mtime < 60:
                continue
            with open(entry / _LOCK) as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # held: a live scan's (or not ours, or gone already)
        shutil.rmtree(entry, ignore_errors=True)


def _naming(mirror: Mirror | None) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What names a doc's files by their object-store URLs instead of their mirrored copies
    (every path under a mirror folder, in any field)."""
    if mirror is None:
        return lambda doc: doc
    swaps = []
    for url, folder in mirror.folders.items():
        for name in dict.fromkeys((str(folder), os.path.realpath(folder))):
            swaps.append((orjson.dumps(name)[1:-1], orjson.dumps(url)[1:-1]))

    def named(doc: dict[str, Any]) -> dict[str, Any]:
        text = orjson.dumps(doc)
        for old, new in swaps:
            text = text.replace(old, new)
        return orjson.loads(text)

    return named


def scan_shard(plan: Plan, number: int, workers: int | None = 1) -> Shard:
    """Scan shard `number` of `plan`: tables of image docs, the files holding them,
    occurrence docs, errors and source states, each row with the whole doc as JSON (`doc`)
    beside the columns a query reads (`files` holds only path and SHA-256). Images are
    fingerprinted by `workers` processes (in-process inside a daemonic process)."""
    from .pipeline import scan

    pa = arrow()
    _clean_up_after_the_dead()
    with _scratch() as folder:
        remote = [p for p in plan.paths if is_object_url(p)]
        mirror = None
        if remote:  # object-store inputs: copied into the scratch folder as they are read
            folders = {url: folder / "mirror" / str(n) for n, url in enumerate(remote)}
            mirror = Mirror(folders, plan.endpoint, plan.max_bytes)
        roots = [mirror.folders[p] if mirror and p in remote else Path(p) for p in plan.paths]
        files = []
        for path, kind in plan.shards[number - plan.first]:
            local = mirror.local(path) if mirror is not None else None
            if mirror is not None and local is not None:
                mirror.fetch(Path(os.path.realpath(local)))  # (if not: walk says unreadable)
            files.append(SourceFile(local or Path(path), kind))
        store = open_store(folder / "shard.sqlite")
        summary = scan(
            roots,
            store,
            assets=[Path(a) for a in plan.assets],
            max_bytes=plan.max_bytes,
            save_every=float("inf"),
            options=ExtractOptions(**plan.options),
            workers=workers,
            image_seconds=plan.image_seconds,
            files=files,
            clusters=False,
            mirror=mirror,
        )
        named = _naming(mirror)
        images, held = [], []
        for image in (named(record.to_dict()) for record in store.images()):
            held += [(path, image["sha256"]) for path in image.pop("files")]
            images.append(image)
        occurrences = [named(record.stored_dict()) for record in store.occurrences()]
        errors = [named(record.to_dict()) for record in store.errors()]
        sources = [named(record.to_dict()) for record in store.sources().values()]
        del store
    counts = {
        "articles": summary.articles,
        "loose_images": summary.loose_images,
        "occurrences": summary.occurrences,
        "unresolved": summary.unresolved,
        "shard_images": len(images),  # (an image used in two shards is in both)
        "errors": len(errors),
    }
    text, number_ = pa.string(), pa.int64()

    def table(columns: dict[str, tuple[Any, list[Any]]], docs: list[Any]) -> pa.Table:
        arrays = {name: pa.array(values, kind) for name, (kind, values) in columns.items()}
        arrays["doc"] = pa.array([orjson.dumps(doc).decode() for doc in docs], text)
        return pa.table(arrays)

    def column(docs: list[dict[str, Any]], key: str, kind: Any) -> tuple[Any, list[Any]]:
        return kind, [doc.get(key) for doc in docs]

    tables: dict[str, pa.Table] = {
        "images": table(
            {
                "sha256": column(images, "sha256", text),
                "phash": column(images, "phash", text),
                "dhash": column(images, "dhash", text),
                "width": column(images, "width", number_),
                "height": column(images, "height", number_),
                "format": column(images, "format", text),
            },
            images,
        ),
        "files": pa.table(
            {
                "path": pa.array([path for path, _ in held], text),
                "sha256": pa.array([sha for _, sha in held], text),
            }
        ),
        "occurrences": table(
            {
                key: column(occurrences, key, number_ if key == "position" else text)
                for key in ("article", "position", "sha256", "reason", "src", "alt", "caption")
            },
            occurrences,
        ),
        "errors": table(
            {key: column(errors, key, text) for key in ("path", "article", "code")}, errors
        ),
        "sources": table({"path": column(sources, "path", text)}, sources),
    }
    return Shard(tables, counts)


def write_shard(out: RunFolder, number: int, shard: Shard) -> dict[str, int]:
    """Write a shard's tables to run folder `out`, then its done marker; the counts."""
    pq = arrow().parquet
    name = shard_name(number)
    for table in TABLES:
        buffer = io.BytesIO()
        pq.write_table(shard.tables[table], buffer, compression="zstd")
        out.write(f"{table}/{name}.parquet", buffer.getvalue())
    out.write(f"done/{name}.json", orjson.dumps(shard.counts))
    return shard.counts


# One shard at a time in a process: a daemonic one fingerprints in-process, where the bytes
# known so far are the process's.
_one_at_a_time = threading.Lock()


def run_shard(plan: Plan, out: RunFolder, number: int, workers: int | None = 1) -> dict[str, int]:
    """Scan shard `number` and write it to run folder `out` (what an engine runs)."""
    with _one_at_a_time:
        return write_shard(out, number, scan_shard(plan, number, workers))


def done_shards(out: RunFolder) -> dict[int, dict[str, int]]:
    """The shards of run folder `out` that are done, with their counts."""
    done = {}
    for marker in out.names("done"):
        stem, _, suffix = marker.partition(".")
        if stem.isdigit() and suffix == "json":
            done[int(stem)] = orjson.loads(out.read(f"done/{marker}") or b"{}")
    return done


def finished_shards(out: RunFolder, plan: Plan, doing: str) -> dict[int, dict[str, int]]:
    """The done shards of the run in `out`: all of `plan`'s, else CatalogError saying what
    `doing` cannot do, and what to run."""
    done = done_shards(out)
    missing = len(plan.shards) - len(done.keys() & range(len(plan.shards)))
    if missing:
        raise CatalogError(
            f"{doing} {out}: {missing} of its {len(plan.shards)} shards "
            f"{'is' if missing == 1 else 'are'} not done; run the same scan with the same "
            "--out again to finish them"
        )
    return done


def shard_table(
    out: RunFolder, table: str, number: int, columns: list[str] | None = None, where: Any = None
) -> Any:
    """Shard `number`'s `table` of run folder `out` (only `columns`; only the rows `where`
    keeps), as an Arrow table; CatalogError when its file is missing."""
    name = f"{table}/{shard_name(number)}.parquet"
    data = out.read(name)
    if data is None:
        raise CatalogError(f"{out}: {name} is missing")
    # (threads of its own: Arrow's pool torn down after reading a Python file object aborted
    # one process in five at exit)
    return arrow().parquet.read_table(
        io.BytesIO(data), columns=columns, filters=where, use_threads=False
    )


def shard_docs(out: RunFolder, table: str, number: int, where: Any = None) -> list[dict[str, Any]]:
    """The documents (`doc` column) of shard `number`'s `table` (the rows `where` keeps)."""
    column = shard_table(out, table, number, ["doc"], where).column("doc")
    return [orjson.loads(doc) for doc in column.to_pylist()]


def run_records(out: RunFolder) -> Iterator[tuple[str, dict[str, Any]]]:
    """("image" | "unresolved" | "error" | "source", record) of every done shard of run
    folder `out`, as `import` takes them (CatalogError while shards are missing). Read
    shard by shard, so that memory holds one shard's records (the run store's catalogue-wide
    joins, `RunStore.image_objects`, hold every occurrence of the run)."""
    plan = Plan.load(out)
    if plan is None:
        raise CatalogError(f"cannot import {out}: it holds no {PLAN}; is it a run's --out folder?")
    done = finished_shards(out, plan, "cannot import")
    yield from (("error", error) for error in plan.errors)
    for number in sorted(done):
        files: dict[str, list[str]] = {}
        held = shard_table(out, "files", number).to_pydict()
        for path, sha256 in zip(held["path"], held["sha256"], strict=True):
            files.setdefault(sha256, []).append(path)
        used: dict[str, list[dict[str, Any]]] = {}
        for occurrence in map(OccurrenceRecord, shard_docs(out, "occurrences", number)):
            if occurrence.sha256:
                used.setdefault(occurrence.sha256, []).append(occurrence.to_dict())
            else:
                yield "unresolved", occurrence.unresolved_dict()
        for image in shard_docs(out, "images", number):
            sha256 = image["sha256"]
            found = {"files": files.get(sha256, []), "occurrences": used.get(sha256, [])}
            yield "image", {**image, **found}
        yield from (("error", error) for error in shard_docs(out, "errors", number))
        yield from (("source", state) for state in shard_docs(out, "sources", number))
