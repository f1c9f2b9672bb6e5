"""Stage 1: turn the paths the user named into the files to read, each with its kind."""

from __future__ import annotations

import os
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
    """A file to scan: `kind` is an article format ("html", "markdown", "text", "jsonl") or
    "image" for a loose image file."""

    path: Path
    kind: str


def kind_of(path: Path) -> str | None:
    if path.name.lower().endswith(".jsonl.gz"):
        return "jsonl"
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    return ARTICLE_KINDS.get(suffix)


def walk(paths: Iterable[Path], errors: list[ItemError]) -> Iterator[SourceFile]:
    """Yield every article and image file under `paths`, recursively, in a stable order.

    Files of other kinds are skipped silently; folders that cannot be listed are recorded in
    `errors` and skipped. A file named directly is taken whatever its extension says only if
    its kind is known. A path that another of `paths` walks already (a file in a scanned
    folder, a sub-folder, the same path twice) is left out, so every file comes once.
    """
    roots = [Path(os.path.abspath(path)) for path in paths]
    for number, root in enumerate(roots):
        others = roots[:number] + roots[number + 1 :]
        if root in roots[:number] or any(_walks(other, root) for other in others):
            continue
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

        for folder, dirs, files in os.walk(root, onerror=on_error):
            dirs.sort()
            for name in sorted(files):
                path = Path(folder, name)
                kind = kind_of(path)
                if kind:
                    yield SourceFile(path, kind)


def _walks(folder: Path, path: Path) -> bool:
    """Whether walking `folder` reaches `path`: it lies below it, and neither it nor a folder
    on the way is a symlinked folder (os.walk does not follow them; it lists linked files)."""
    if folder == path or folder not in path.parents or not folder.is_dir():
        return False
    below = [parent for parent in path.parents if folder in parent.parents]
    return not any(step.is_symlink() and step.is_dir() for step in (path, *below))
