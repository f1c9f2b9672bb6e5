"""Object stores as asset folders (`--assets s3://bucket/prefix`, and `gs://`, `az://`).

A content-addressed key (`s3://crabby-images/<5 hex>/<40 hex>`) is looked up under each prefix
the user named as in an asset folder (`PREFIX/crabby-images/<5 hex>/<40 hex>`, then
`PREFIX/<5 hex>/<40 hex>`), read with obstore (the `objects` extra) with the user's usual
credentials and settings (for S3 as boto3 reads them: the environment, `~/.aws` files,
profiles; for the others the environment: `GOOGLE_APPLICATION_CREDENTIALS`,
`AZURE_STORAGE_ACCOUNT_NAME`…) or `endpoint`, and kept in a
cache folder, so that a re-scan reads each object once. An article can make the tool read with
the user's credentials only what lies under the prefixes the user named; with `public`, it may
name any bucket, read unsigned.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .atomic import write_whole
from .errors import QueryError, ResolveError
from .models import byte_limit

SCHEMES = ("s3://", "gs://", "az://")
# As for the web (media_catalog.fetch): a read starts within 20 s and ends within 120 s; a
# store answering 5xx or not at all is asked three times more, for at most 30 s, not
# obstore's ten times over three minutes, since a scan waits for each object.
_CLIENT = {"connect_timeout": "20s", "timeout": "120s"}
_RETRY = {"max_retries": 3, "retry_timeout": timedelta(seconds=30)}


def object_url(path: Path | str) -> str | None:
    """The object-store prefix a command-line path names, or None: a Path keeps one slash
    of "s3://" ("s3:/bucket/prefix"), which is put back."""
    found = re.match(r"(?i)(s3|gs|az):/+(.*)", str(path))
    return f"{found.group(1).lower()}://{found.group(2)}" if found else None


def is_object_url(value: str) -> bool:
    """Whether `value` names an object-store prefix (`s3://bucket/prefix`…)."""
    return value.lower().startswith(SCHEMES)


class ObjectAssets:
    """The object-store prefixes keys are looked up under, and the folder objects read from
    them are cached in. With `public` (`scan --fetch`), a key found under none is also read
    from the bucket it names, unsigned: as a web URL is fetched, with no credentials an
    article could borrow, so only a public object is read."""

    def __init__(
        self,
        prefixes: list[str],
        cache: Path,
        *,
        endpoint: str | None = None,
        max_bytes: int,
        public: bool = False,
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
        self.public = public
        self._stores: dict[tuple[str, bool], Any] = {}
        self._settings: dict[bool, dict[str, Any]] = {}  # signed -> obstore options

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
                    return found, _origin(url, found)
        return None

    def find_public(self, url: str, src: str) -> tuple[Path, dict[str, Any]] | None:
        """With `public`: the cached file of the object `url` (`s3://bucket/key`) names, read
        unsigned, with its origin; else, or when it does not exist, None."""
        if not self.public:
            return None
        scheme, _, rest = url.partition("://")
        bucket, _, key = rest.partition("/")
        found = self._read(scheme, bucket, key, url, src, signed=False)
        return (found, _origin(url, found)) if found is not None else None

    def _read(
        self, scheme: str, bucket: str, key: str, url: str, src: str, signed: bool = True
    ) -> Path | None:
        digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()
        entry = self.cache / digest[:2] / digest
        if entry.is_file():
            return entry
        import obstore

        try:
            result = obstore.get(self._store(scheme, bucket, signed), key)
            size = result.meta["size"]
            if size > self.max_bytes:
                raise ResolveError(
                    f"{url} is over the {byte_limit(self.max_bytes)} limit (--max-bytes)",
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
        write_whole(entry, data)
        return entry

    def _store(self, scheme: str, bucket: str, signed: bool) -> Any:
        """The obstore client of a bucket (made once), configured as the user's other tools
        are (see `_aws` for S3; obstore reads the environment for the others); unless
        `signed`, with their endpoint but no credentials."""
        name = f"{scheme}://{bucket}"
        if (name, signed) not in self._stores:
            if scheme == "s3" and signed not in self._settings:  # (read once for all buckets)
                self._settings[signed] = _aws(self.endpoint, signed)
            options = dict(self._settings[signed]) if scheme == "s3" else {}
            self._stores[name, signed] = _client(name, options, signed)
        return self._stores[name, signed]


def prefix_store(url: str, endpoint: str | None = None) -> Any:
    """An obstore client rooted at the prefix `url` (`s3://bucket/prefix`, `gs://…`,
    `az://…`), with the user's credentials and settings as ObjectAssets reads them."""
    try:
        import obstore  # noqa: F401
    except ImportError as exc:
        raise QueryError(
            f"{url} is in an object store: pip install 'media-catalog[objects]' (obstore)"
        ) from exc
    options = _aws(endpoint, True) if url.lower().startswith("s3://") else {}
    return _client(url.rstrip("/"), options, True)


def _client(url: str, options: dict[str, Any], signed: bool) -> Any:
    from obstore.store import from_url

    options = {**options, "client_options": {**_CLIENT, **options.get("client_options", {})}}
    if not signed:
        options["skip_signature"] = True
    return from_url(url, retry_config=_RETRY, **options)


def _aws(endpoint: str | None, signed: bool) -> dict[str, Any]:
    """obstore's S3 options from the user's AWS settings as boto3 reads them, when installed
    (the environment, `~/.aws/config` and `credentials`, `AWS_PROFILE`, SSO…): credentials
    (only when `signed`: no credential process runs for an unsigned read), region and
    endpoint, `endpoint` first; else obstore reads the environment alone."""
    options: dict[str, Any] = {}
    try:
        import boto3
        from obstore.auth.boto3 import Boto3CredentialProvider

        session = boto3.Session()
    except ImportError:  # pragma: no cover - boto3 comes with the objects extra
        session = None
    except Exception:  # a broken profile: an unsigned read needs none of it
        if signed:
            raise
        session = None
    if session is None:
        endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL")
    else:
        if signed and session.get_credentials() is not None:
            options["credential_provider"] = Boto3CredentialProvider(session)
        elif session.region_name:
            options["region"] = session.region_name
        if endpoint is None:
            configured = session.client("s3").meta.endpoint_url
            host = urlsplit(configured).hostname or ""
            endpoint = None if host.endswith(".amazonaws.com") else configured
    if endpoint:
        options["endpoint"] = endpoint
        if endpoint.startswith("http://"):  # a local store (MinIO, moto)
            options["client_options"] = {"allow_http": True}
    return options


def _origin(url: str, found: Path) -> dict[str, Any]:
    """Occurrence.origin of an object read into `found`."""
    return {"url": url, "final_url": url, "status": 200, "time": _modified(found), "archive": None}


def _modified(path: Path) -> str:
    """When the cached copy was read (its modification time), as ISO 8601 UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(path.stat().st_mtime))


def list_prefix(url: str, endpoint: str | None = None) -> list[tuple[str, int]]:
    """(URL, size) of every object under the prefix `url`, by key."""
    import obstore

    store = prefix_store(url, endpoint)
    base = url.rstrip("/")
    listed = obstore.list(store).collect()
    return sorted((f"{base}/{entry['path']}", entry["size"]) for entry in listed)


class Mirror:
    """Objects under prefixes, copied into local folders when a scan asks for them: the
    object `PREFIX/KEY` is the file `FOLDER/KEY` of its prefix's folder. Only keys under the
    prefixes, at most `max_bytes` each."""

    def __init__(
        self, folders: dict[str, Path], endpoint: str | None = None, max_bytes: int = 0
    ) -> None:
        self.folders = {url.rstrip("/"): folder for url, folder in folders.items()}
        self.endpoint = endpoint
        self.max_bytes = max_bytes
        self._stores: dict[str, Any] = {}

    def local(self, url: str) -> Path | None:
        """Where the object `url` is mirrored, or None when it is under no prefix."""
        for prefix, folder in self.folders.items():
            if url.startswith(prefix + "/"):
                return folder / url[len(prefix) + 1 :]
        return None

    def fetch(self, path: Path) -> bool:
        """Copy the object a missing file under a mirror folder stands for (absolute, real);
        whether it is there now (False when no object has that key, or it is too large)."""
        import obstore

        for prefix, folder in self.folders.items():
            real = Path(os.path.realpath(folder))
            if real not in path.parents:
                continue
            key = path.relative_to(real).as_posix()
            if prefix not in self._stores:
                self._stores[prefix] = prefix_store(prefix, self.endpoint)
            try:
                result = obstore.get(self._stores[prefix], key)
                if self.max_bytes and result.meta["size"] > self.max_bytes:
                    return False
                write_whole(path, bytes(result.bytes()))
            except (FileNotFoundError, OSError):
                return False
            return True
        return False
