"""Stage 1: turn the paths the user named into the files to read, each with its kind."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .models import ItemError

ARTICLE_KINDS = {
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".jsonl": "jsonl",
}
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".avif", ".heic", ".heif"}
)


@dataclass(frozen=True)
class SourceFile:
    """A file to scan: `kind` is an article format ("html", "markdown", "text", "jsonl"),
    "warc" for a web archive of pages and their images, or "image" for a loose image file."""

    path: Path
    kind: str


def kind_of(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".jsonl.gz"):
        return "jsonl"
    if name.endswith((".warc", ".warc.gz")):
        return "warc"
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    return ARTICLE_KINDS.get(suffix)


def walk(
    paths: Iterable[Path],
    errors: list[ItemError],
    allowed: Iterable[Path] = (),
    unlisted: list[str] | None = None,
) -> Iterator[SourceFile]:
    """Yield every article and image file under `paths`, recursively, in a stable order.

    Files of other kinds are skipped silently; folders that cannot be listed, files that are
    not regular files (a FIFO, a device: reading would block) and linked files leading outside
    `paths` and the `allowed` folders are recorded in `errors` and skipped. A file named
    directly is taken whatever its extension says only if its kind is known. A path that
    another of `paths` walks already (a file in a scanned folder, a sub-folder, the same path
    twice) is left out, so every file comes once. The folders that could not be listed are
    also added to `unlisted`, when given.
    """
    roots = [Path(os.path.abspath(path)) for path in paths]
    inside = [Path(os.path.realpath(path)) for path in (*roots, *allowed)]
    named, taken = set(roots), set()
    for root in roots:
        # (only one of its folders can walk it: never a pass over every path named)
        if root in taken or any(
            folder in named and _walks(folder, root) for folder in root.parents
        ):
            continue
        taken.add(root)
        if root.is_file():
            kind = kind_of(root)
            if kind:
                yield SourceFile(root, kind)
            continue
        if not root.is_dir():
            errors.append(ItemError(str(root), "missing", f"{root} does not exist"))
            continue

        def on_error(exc: OSError) -> None:
            errors.append(ItemError(exc.filename, "unreadable", f"cannot list folder: {exc}"))
            if unlisted is not None:
                unlisted.append(exc.filename)

        for folder, dirs, files in os.walk(root, onerror=on_error):
            dirs.sort()
            for name in sorted(files):
                path = Path(folder, name)
                kind = kind_of(path)
                if kind and _readable(path, inside, errors):
                    yield SourceFile(path, kind)


def admitted(path: Path, allowed: Iterable[Path], errors: list[ItemError]) -> bool:
    """Whether a file walked earlier (a shard of a distributed run, from a plan that may be
    old or edited) may still be read: a regular file whose real path lies in the `allowed`
    folders; if not, why is recorded, as `walk` records it."""
    inside = [Path(os.path.realpath(folder)) for folder in allowed]
    return _within(path, inside, errors, "is") and _readable(path, inside, errors)


def _readable(path: Path, inside: list[Path], errors: list[ItemError]) -> bool:
    """Whether a walked file is a regular file within the `inside` folders; if not, why is
    recorded."""
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError as exc:
        errors.append(ItemError(str(path), "unreadable", f"cannot read {path}: {exc}"))
        return False
    if not regular:
        message = f"{path} is not a regular file (a FIFO, device or socket); it was skipped"
        errors.append(ItemError(str(path), "unreadable", message))
        return False
    return not path.is_symlink() or _within(path, inside, errors, "links to")


def _within(path: Path, inside: list[Path], errors: list[ItemError], how: str) -> bool:
    """Whether the real path of `path` lies in the `inside` folders; if not, why is
    recorded (`how` it leads out: "links to", "is")."""
    real = Path(os.path.realpath(path))
    if any(real == folder or folder in real.parents for folder in inside):
        return True
    message = (
        f"{path} {how} {real}, outside the scanned folders; scan that folder too, or name it "
        "with --assets, to allow it"
    )
    errors.append(ItemError(str(path), "outside-roots", message))
    return False


def _walks(folder: Path, path: Path) -> bool:
    """Whether walking `folder` reaches `path`: it lies below it, and neither it nor a folder
    on the way is a symlinked folder (os.walk does not follow them; it lists linked files)."""
    if folder == path or folder not in path.parents or not folder.is_dir():
        return False
    below = [parent for parent in path.parents if folder in parent.parents]
    return not any(step.is_symlink() and step.is_dir() for step in (path, *below))
