"""Object-store --assets: the seed's keys read from an S3-compatible server on 127.0.0.1 (moto's
standalone server, started by the test), with credentials and endpoint as users set them."""

import hashlib

import boto3
import orjson
import pytest

from .conftest import SAMPLES, encode, photo

MIRRORED = encode(photo(90))  # what the mirror holds under every key


@pytest.fixture
def bucket(s3, monkeypatch):
    """The seed's assets in their own bucket (`crabby-images/<5 hex>/<40 hex>`) and under a
    prefix of a mirror (`mirror/assets/crabby-images/…`); the usual environment variables."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    for name in ("crabby-images", "mirror"):
        client.create_bucket(Bucket=name)
    stored = {}
    for path in sorted((SAMPLES / "assets" / "crabby-images").rglob("*")):
        if path.is_file():
            key = f"{path.parent.name}/{path.name}"
            client.put_object(Bucket="crabby-images", Key=key, Body=path.read_bytes())
            client.put_object(Bucket="mirror", Key=f"assets/crabby-images/{key}", Body=MIRRORED)
            stored[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return stored


def _seed(cli, tmp_path, *assets: str, endpoint: str | None = None) -> list[dict]:
    (tmp_path / "seed").mkdir(exist_ok=True)
    article = SAMPLES / "articles" / "hasakah-bombings.txt"
    (tmp_path / "seed" / article.name).write_bytes(article.read_bytes())
    options = [value for asset in assets for value in ("--assets", asset)]
    if endpoint:
        options += ["--endpoint-url", endpoint]
    result = cli("scan", tmp_path / "seed", *options, "-q")
    assert result.exit_code == 0, result.output
    return orjson.loads(cli("search", "-f", "json", "").stdout)["results"]


def test_the_seed_resolves_its_keys_from_its_own_bucket(bucket, s3, cli, tmp_path):
    found = _seed(cli, tmp_path, "s3://crabby-images", endpoint=s3)
    assert len(found) == 7 and all(r["reason"] is None for r in found)
    key_of = {r["src"].split("crabby-images/")[1]: r for r in found}
    assert {key: r["sha256"] for key, r in key_of.items()} == {key: bucket[key] for key in key_of}
    origin = found[0]["origin"]
    assert origin["url"].startswith("s3://crabby-images/") and origin["archive"] is None
    cached = tmp_path / f"{cli.db}.cache"
    assert all(r["file"].startswith(str(cached)) for r in found)


def test_a_prefix_is_read_like_an_asset_folder_and_other_buckets_never(
    bucket, s3, cli, tmp_path, monkeypatch
):
    # the mirror holds another photo under assets/crabby-images/…: read from there, as from a
    # folder laid out so; the keys' own bucket is not named, so never read
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3)  # the endpoint from the environment
    found = _seed(cli, tmp_path, "s3://mirror/assets")
    assert {r["sha256"] for r in found} == {hashlib.sha256(MIRRORED).hexdigest()}
    assert {r["origin"]["url"].split("/")[2] for r in found} == {"mirror"}


def test_a_key_in_no_prefix_is_no_asset_and_a_failing_store_is_recorded(bucket, s3, cli, tmp_path):
    found = _seed(cli, tmp_path, "s3://mirror/elsewhere", endpoint=s3)
    assert {r["reason"] for r in found} == {"no-asset"}
    found = _seed(cli, tmp_path, "s3://no-such-bucket", endpoint=s3)
    assert {r["reason"] for r in found} == {"unreadable"}


def test_credentials_region_and_endpoint_come_from_the_aws_files_of_a_profile(
    bucket, s3, cli, tmp_path, monkeypatch
):
    # as the AWS CLI is set up: nothing in the environment but the profile's name
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        monkeypatch.delenv(name)
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(
        "[desk]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    (home / ".aws" / "config").write_text(
        f"[profile desk]\nregion = us-east-1\nendpoint_url = {s3}\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_PROFILE", "desk")
    found = _seed(cli, tmp_path, "s3://crabby-images")  # no --endpoint-url
    assert len(found) == 7 and all(r["reason"] is None for r in found)
    assert {r["sha256"] for r in found} == set(bucket.values())


def test_a_store_that_fails_is_asked_a_few_times_then_recorded(cli, tmp_path, monkeypatch):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    asked = []

    class Failing(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            asked.append(self.path)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        found = _seed(cli, tmp_path, "s3://crabby-images", endpoint=endpoint)
    finally:
        server.shutdown()
        server.server_close()
    assert {r["reason"] for r in found} == {"unreadable"} and len(found) == 7
    assert len(asked) == 7 * 4  # each key: once, then three retries


def test_with_fetch_a_key_is_read_from_its_own_bucket_unsigned(bucket, s3, cli, tmp_path):
    (tmp_path / "seed").mkdir()
    article = SAMPLES / "articles" / "hasakah-bombings.txt"
    (tmp_path / "seed" / article.name).write_bytes(article.read_bytes())
    assert cli("scan", tmp_path / "seed", "--endpoint-url", s3, "-q").exit_code == 0
    found = orjson.loads(cli("search", "-f", "json", "").stdout)["results"]
    assert {r["reason"] for r in found} == {"no-asset"}  # nothing read without --fetch
    result = cli("scan", tmp_path / "seed", "--fetch", "--endpoint-url", s3, "-q")
    assert result.exit_code == 0, result.output
    found = orjson.loads(cli("search", "-f", "json", "").stdout)["results"]
    assert {r["reason"] for r in found} == {"unreadable"}  # a private bucket: no credentials
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::crabby-images/*",
            }
        ],
    }
    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    client.put_bucket_policy(Bucket="crabby-images", Policy=orjson.dumps(policy).decode())
    (tmp_path / "seed" / article.name).write_bytes(article.read_bytes() + b"\n")  # read again
    try:
        result = cli("scan", tmp_path / "seed", "--fetch", "--endpoint-url", s3, "-q")
        # no credentials are looked up for an unsigned read: a broken profile is no matter
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AWS_PROFILE", "gone")
            other = cli(
                "scan",
                tmp_path / "seed",
                "--fetch",
                "--endpoint-url",
                s3,
                "-q",
                "--db",
                "other.json",
            )
            found = orjson.loads(cli("search", "-f", "json", "", "--db", "other.json").stdout)
    finally:
        client.delete_bucket_policy(Bucket="crabby-images")
    assert other.exit_code == 0, other.output
    assert len(found["results"]) == 7 and all(r["sha256"] for r in found["results"])
    assert result.exit_code == 0, result.output
    found = orjson.loads(cli("search", "-f", "json", "").stdout)["results"]
    assert len(found) == 7 and {r["sha256"] for r in found} == set(bucket.values())
    assert {r["origin"]["url"] for r in found} == {r["src"] for r in found}
