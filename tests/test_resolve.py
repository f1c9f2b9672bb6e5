import base64
import os
from urllib.parse import quote

import pytest

from media_catalog.errors import ResolveError
from media_catalog.resolve import Resolver, decode_data_uri, read_bytes

from .conftest import encode, photo, write_image

KEY = "s3://crabby-images/08170/08170bc3a50f68d963a8a9860d863f95afb1edd0"
DIGEST = "08170bc3a50f68d963a8a9860d863f95afb1edd0"


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    write_image(root / "img" / "a b.jpg", photo(1))
    (root / "articles").mkdir()
    return root


def reason(resolver, src, base):
    with pytest.raises(ResolveError) as info:
        resolver.resolve(src, base)
    return info.value.reason


def test_relative_absolute_and_file_urls(site):
    resolver = Resolver([site])
    base = site / "articles"
    target = (site / "img" / "a b.jpg").resolve()
    assert resolver.resolve("../img/a b.jpg", base).file == target
    assert resolver.resolve("../img/a%20b.jpg?v=2#x", base).file == target
    assert resolver.resolve(str(target), base).file == target
    assert resolver.resolve("file://" + quote(str(target)), base).file == target


def test_data_uris_base64_and_percent():
    data = encode(photo(2), "PNG")
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    assert Resolver([]).resolve(uri, os.getcwd()).data == data
    assert decode_data_uri("data:image/svg+xml,%3Csvg%3E") == b"<svg>"
    assert decode_data_uri("data:image/png;base64,aGV s\nbG8=") == b"hello"


@pytest.mark.parametrize(
    "uri", ["data:image/png;base64", "data:image/png;base64,@@@", "data:image/png;base64,abc"]
)
def test_broken_data_uris(uri):
    assert reason(Resolver([]), uri, "/") == "bad-data-uri"


@pytest.mark.parametrize(
    "layout", [f"crabby-images/08170/{DIGEST}", f"08170/{DIGEST}", DIGEST, f"{DIGEST}.jpg"]
)
def test_content_addressed_keys_in_every_asset_layout(tmp_path, layout):
    assets = tmp_path / "assets"
    path = write_image(assets / layout, photo(3))
    assert Resolver([], [assets]).resolve(KEY, tmp_path).file == path.resolve()


def test_key_lookup_order_prefers_bucket_layout(tmp_path):
    assets = tmp_path / "assets"
    first = write_image(assets / "crabby-images" / "08170" / DIGEST, photo(3))
    write_image(assets / "08170" / DIGEST, photo(4))
    assert Resolver([], [assets]).resolve(KEY, tmp_path).file == first.resolve()


def test_unresolved_reasons(site, tmp_path):
    resolver = Resolver([site], [tmp_path / "empty"])
    base = site / "articles"
    assert reason(resolver, "https://example.com/x.jpg", base) == "remote"
    assert reason(resolver, "//cdn.example.com/x.jpg", base) == "remote"
    assert reason(resolver, "../img/nothing.jpg", base) == "missing"
    assert reason(resolver, "", base) == "missing"
    assert reason(resolver, KEY, base) == "no-asset"
    assert reason(Resolver([site]), KEY, base) == "no-asset"


def test_nothing_outside_the_roots_is_read(site, tmp_path):
    secret = tmp_path / "secret.jpg"
    write_image(secret, photo(5))
    (site / "img" / "link.jpg").symlink_to(secret)
    resolver = Resolver([site])
    base = site / "articles"
    assert reason(resolver, "../../secret.jpg", base) == "outside-roots"
    assert reason(resolver, str(secret), base) == "outside-roots"
    assert reason(resolver, "file://" + str(secret), base) == "outside-roots"
    assert reason(resolver, "../img/link.jpg", base) == "outside-roots"
    assert reason(resolver, "/etc/passwd", base) == "outside-roots"


def test_asset_key_cannot_escape_through_a_symlink(tmp_path):
    assets = tmp_path / "assets"
    assets.mkdir()
    outside = write_image(tmp_path / "outside.jpg", photo(6))
    (assets / DIGEST).symlink_to(outside)
    assert reason(Resolver([], [assets]), KEY, tmp_path) == "outside-roots"


def test_read_bytes_limits_and_unreadable(tmp_path):
    path = tmp_path / "big.jpg"
    path.write_bytes(b"x" * 100)
    assert read_bytes(path, max_bytes=100) == b"x" * 100
    with pytest.raises(ResolveError) as info:
        read_bytes(path, max_bytes=99)
    assert info.value.reason == "too-large"
    with pytest.raises(ResolveError) as info:
        read_bytes(tmp_path)  # a folder cannot be read as bytes
    assert info.value.reason == "unreadable"
