"""media-catalog: catalogue the images embedded in articles.

>>> from media_catalog import Catalog, scan, duplicate_clusters
>>> catalog = Catalog("media-catalog.json")
>>> summary = scan(["samples"], catalog, assets=["samples/assets"])
>>> clusters = duplicate_clusters(catalog)
"""

from .catalog import Catalog, image_objects, unresolved
from .errors import (
    CatalogError,
    ExtractError,
    FingerprintError,
    MediaCatalogError,
    QueryError,
    ResolveError,
)
from .fingerprint import fingerprint
from .models import Fingerprint, ImageRef, ItemError, PerceptualHash
from .pipeline import ScanSummary, scan
from .query import lookup, search
from .similarity import DEFAULT_THRESHOLD, Cluster, duplicate_clusters
from .text import normalize

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_THRESHOLD",
    "Catalog",
    "CatalogError",
    "Cluster",
    "ExtractError",
    "Fingerprint",
    "FingerprintError",
    "ImageRef",
    "ItemError",
    "MediaCatalogError",
    "PerceptualHash",
    "QueryError",
    "ResolveError",
    "ScanSummary",
    "__version__",
    "duplicate_clusters",
    "fingerprint",
    "image_objects",
    "lookup",
    "normalize",
    "scan",
    "search",
    "unresolved",
]
