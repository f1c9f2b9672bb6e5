"""Object stores as asset folders (`--assets s3://bucket/prefix`, and `gs://`, `az://`).

A content-addressed key (`s3://crabby-images/<5 hex>/<40 hex>`) is looked up under each prefix
the user named as in an asset folder (`PREFIX/crabby-images/<5 hex>/<40 hex>`, then
`PREFIX/<5 hex>/<40 hex>`), read with obstore (the `objects` extra) with the user's usual
credentials and settings from the environment (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`,
`GOOGLE_APPLICATION_CREDENTIALS`, `AZURE_STORAGE_ACCOUNT_NAME`…) or `endpoint`, and kept in a
cache folder, so that a re-scan reads each object once. An article can make the tool read only
what lies under the prefixes the user named, never another bucket with the user's credentials.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path
from typing import Any

from .errors import QueryError, ResolveError

SCHEMES = ("s3://", "gs://", "az://")


def is_object_url(value: str) -> bool:
    """Whether `value` names an object-store prefix (`s3://bucket/prefix`…)."""
    return value.lower().startswith(SCHEMES)


class ObjectAssets:
    """The object-store prefixes keys are looked up under, and the folder objects read from
    them are cached in."""

    def __init__(
        self, prefixes: list[str], cache: Path, *, endpoint: str | None = None, max_bytes: int
    ) -> None:
        try:
            import obstore  # noqa: F401
        except ImportError as exc:  # pragma: no cover - the extra is installed with the tests
            raise QueryError(
                "object-store --assets need obstore: pip install 'media-catalog[objects]'"
            ) from exc
        self.prefixes = [prefix.rstrip("/") for prefix in prefixes]
        self.cache = cache.absolute()
        self.endpoint = endpoint
        self.max_bytes = max_bytes
        self._stores: dict[str, Any] = {}

    def find(self, names: list[str], src: str) -> tuple[Path, dict[str, Any]] | None:
        """The cached file of the first object named `PREFIX/NAME` that exists, with its
        origin (Occurrence.origin), or None; ResolveError when a store fails."""
        for prefix in self.prefixes:
            scheme, _, rest = prefix.partition("://")
            bucket, _, base = rest.partition("/")
            for name in names:
                key = f"{base}/{name}" if base else name
                url = f"{scheme}://{bucket}/{key}"
                found = self._read(scheme, bucket, key, url, src)
                if found is not None:
                    origin = {"url": url, "final_url": url, "status": 200, "archive": None}
                    return found, {**origin, "time": _modified(found)}
        return None

    def _read(self, scheme: str, bucket: str, key: str, url: str, src: str) -> Path | None:
        digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()
        entry = self.cache / digest[:2] / digest
        if entry.is_file():
            return entry
        import obstore

        try:
            result = obstore.get(self._store(scheme, bucket), key)
            size = result.meta["size"]
            if size > self.max_bytes:
                raise ResolveError(
                    f"{url} is over the {self.max_bytes >> 20} MiB limit",
                    reason="too-large",
                    ref=src,
                )
            data = bytes(result.bytes())
        except FileNotFoundError as exc:
            if "NoSuchBucket" not in str(exc):
                return None  # not under this prefix
            raise ResolveError(
                f"cannot read {url}: the bucket {bucket} does not exist",
                reason="unreadable",
                ref=src,
            ) from exc
        except ResolveError:
            raise
        except Exception as exc:  # obstore's errors: credentials, network, a missing bucket
            raise ResolveError(
                f"cannot read {url}: {str(exc).splitlines()[0][:300]}",
                reason="unreadable",
                ref=src,
            ) from exc
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f".{entry.name}.{secrets.token_hex(4)}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, entry)
        finally:
            tmp.unlink(missing_ok=True)
        return entry

    def _store(self, scheme: str, bucket: str) -> Any:
        """The obstore client of a bucket (made once), configured from the environment."""
        name = f"{scheme}://{bucket}"
        if name not in self._stores:
            from obstore.store import from_url

            options: dict[str, Any] = {}
            if scheme == "s3":
                if self.endpoint:
                    options["endpoint"] = self.endpoint
                endpoint = self.endpoint or os.environ.get("AWS_ENDPOINT_URL", "")
                if endpoint.startswith("http://"):  # a local store (MinIO, moto)
                    options["client_options"] = {"allow_http": True}
            self._stores[name] = from_url(name, **options)
        return self._stores[name]


def _modified(path: Path) -> str:
    """When the cached copy was read (its modification time), as ISO 8601 UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(path.stat().st_mtime))
