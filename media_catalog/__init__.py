"""media-catalog: catalogue the images embedded in articles.

>>> from media_catalog import open_store, scan, duplicate_clusters
>>> catalog = open_store("media-catalog.json")  # or "archive.sqlite"
>>> summary = scan(["samples"], catalog, assets=["samples/assets"])
>>> clusters = duplicate_clusters(catalog)

The public names are imported on first use, so that `media-catalog lookup` does not load the
image and parsing stack (Pillow, selectolax, markdown-it) it never needs.
"""

import sys
from importlib import import_module
from types import ModuleType
from typing import Any

__version__ = "0.3.0"

_HOME = {
    "open_store": "store",
    "Store": "store",
    "import_files": "merge",
    "ImportSummary": "merge",
    "CatalogError": "errors",
    "ExtractError": "errors",
    "FingerprintError": "errors",
    "MediaCatalogError": "errors",
    "QueryError": "errors",
    "ResolveError": "errors",
    "fingerprint": "fingerprint",
    "Fingerprint": "models",
    "ImageRef": "models",
    "ItemError": "models",
    "PerceptualHash": "models",
    "ImageRecord": "records",
    "OccurrenceRecord": "records",
    "ErrorRecord": "records",
    "SourceRecord": "records",
    "ScanSummary": "pipeline",
    "scan": "pipeline",
    "lookup": "query",
    "search": "query",
    "DEFAULT_THRESHOLD": "models",
    "Cluster": "similarity",
    "duplicate_clusters": "similarity",
    "normalize": "text",
}

__all__ = sorted([*_HOME, "__version__"])


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


class _Package(ModuleType):
    """Importing the submodule `media_catalog.fingerprint` must not hide the public function
    `fingerprint`: Python binds a submodule as an attribute of its package once imported."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOME and isinstance(value, ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
