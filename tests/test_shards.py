"""A scan cut into shards (`scan --out`): the shard task alone, the same catalogue as a local
scan through the real CLI and a Dask LocalCluster of 3 processes, and the faults a run meets
(a worker killed, the driver killed, bad input)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from media_catalog.shards import RunFolder, done_shards, plan_run, scan_shard
from media_catalog.store import open_store

from .conftest import SAMPLES, encode, photo, write_image

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")


def corpus(root: Path) -> Path:
    """Articles of every format and loose images, with a photo reused across folders (so
    across shards), a recompressed copy, a corrupt JPEG and a malformed article."""
    write_image(root / "a" / "harbour.jpg", photo(1, (400, 300)), quality=92)
    write_image(root / "a" / "market.png", photo(2), "PNG")
    write_image(root / "b" / "harbour-small.jpg", photo(1, (400, 300)), quality=40)
    write_image(root / "b" / "fire.jpg", photo(3))
    (root / "b" / "broken.jpg").write_bytes(encode(photo(4))[:300])
    (root / "a" / "story.html").write_text(
        "<html><body><p>Before</p><figure><img src='harbour.jpg' alt='بندر'>"
        "<figcaption>The harbour at dawn</figcaption></figure>"
        "<img src='../b/fire.jpg' alt='fire'><img src='gone.jpg' alt='gone'></body></html>",
        encoding="utf-8",
    )
    (root / "b" / "notes.md").write_text(
        "# Notes\n\n![harbour again](harbour-small.jpg)\n\n![bad](broken.jpg)\n", encoding="utf-8"
    )
    (root / "b" / "bad.md").write_bytes(b"\xff\xfe![x](\x00.jpg)" + b"[" * 5000)
    (root / "c").mkdir()
    (root / "c" / "dump.jsonl").write_text(
        orjson.dumps(
            {"url": "https://example.org/1", "text": "<img src='../a/market.png'>"}
        ).decode()
        + "\n{not json\n",
        encoding="utf-8",
    )
    return root


def rows(db: Path) -> dict[str, list[bytes]]:
    """Every row of a catalogue, sorted: the same catalogue gives the same rows."""
    store = open_store(db, create=False)

    def dumped(docs):
        return sorted(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS) for doc in docs)

    return {
        "images": dumped({**i.to_dict(), "files": sorted(i.files)} for i in store.images()),
        "occurrences": dumped(o.stored_dict() for o in store.occurrences()),
        "errors": dumped(e.to_dict() for e in store.errors()),
        "sources": dumped(s.to_dict() for s in store.sources().values()),
    }


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    return corpus(tmp_path / "corpus")


def test_a_shard_is_a_pure_function_of_the_plan(mixed, tmp_path):
    plan = plan_run([mixed], RunFolder(tmp_path / "run"), shard_size=3)
    assert [len(shard) for shard in plan.shards] == [3, 3, 1, 2]  # the dump alone
    assert plan.shards[2] == [(str(mixed / "c" / "dump.jsonl"), "jsonl")]
    first = scan_shard(plan, 1)  # b/bad.md, b/broken.jpg, b/fire.jpg
    again = scan_shard(plan, 1)
    assert {name: table.to_pylist() for name, table in first.tables.items()} == {
        name: table.to_pylist() for name, table in again.tables.items()
    }
    images = first.tables["images"]
    assert images.column_names == ["sha256", "phash", "dhash", "width", "height", "format", "doc"]
    assert first.tables["files"].column("path").to_pylist() == [str(mixed / "b" / "fire.jpg")]
    # the corrupt JPEG is a recorded error, at its place
    errors = {(e["path"], e["code"]) for e in first.tables["errors"].to_pylist()}
    assert (str(mixed / "b" / "broken.jpg"), "bad-image") in errors
    assert first.counts["loose_images"] == 2 and first.counts["articles"] == 1
    # nothing is written by the task itself, and the plan is written once
    assert not (tmp_path / "run" / "images").exists()
    assert orjson.loads((tmp_path / "run" / "plan.json").read_bytes())["shards"][2] == [
        [str(mixed / "c" / "dump.jsonl"), "jsonl"]
    ]


def test_the_plan_is_kept_and_another_runs_inputs_are_refused(cli, mixed, tmp_path):
    result = cli("scan", mixed, "--out", "run", "--scheduler", "none", "--shard-size", "3")
    assert result.exit_code == 0, result.output
    plan = (tmp_path / "run" / "plan.json").read_bytes()
    (mixed / "a" / "later.jpg").write_bytes(encode(photo(9)))  # the plan does not change
    again = cli("scan", mixed, "--out", "run", "--scheduler", "none", "-f", "json")
    assert orjson.loads(again.stdout)["ran"] == 0
    assert (tmp_path / "run" / "plan.json").read_bytes() == plan
    other = cli("scan", SAMPLES, "--out", "run", "--scheduler", "none")
    assert other.exit_code == 1
    assert "holds a run of other inputs" in other.stderr and "Traceback" not in other.stderr
    refused = cli("scan", mixed, "--out", "run2", "--prune")
    assert refused.exit_code == 1 and "--prune does not work with --out" in refused.stderr


def test_a_local_cluster_gives_the_local_scans_catalogue(cli, mixed, tmp_path):
    local = cli("scan", mixed, "--assets", SAMPLES / "assets", "-q")
    assert local.exit_code == 0, local.output
    result = cli(
        "scan", mixed, "--assets", SAMPLES / "assets", "--out", "run", "--shard-size", "2",
        "--workers", "3", "-f", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    assert summary["shards"] == summary["ran"] == 5 and summary["failed"] == 0
    assert summary["errors"] >= 3  # the corrupt JPEG, the malformed dump line, the bad path
    imported = cli("import", "run", "--db", "imported" + Path(cli.db).suffix)
    assert imported.exit_code == 0, imported.output
    db = tmp_path / ("imported" + Path(cli.db).suffix)
    assert rows(db) == rows(tmp_path / cli.db)
    for command in (["dupes", "-f", "json"], ["stats", "-f", "json"]):
        assert cli(*command, "--db", db).stdout == cli(*command).stdout
    # the export too, but images and errors come in the order they were met (shards change
    # it), so sorted
    exports = [orjson.loads(cli("export", *where).stdout) for where in (["--db", db], [])]
    for export in exports:
        export["errors"].sort(key=orjson.dumps)
        export["images"].sort(key=lambda image: image["sha256"])
    assert exports[0] == exports[1]
    dupes = orjson.loads(cli("dupes", "-f", "json").stdout)
    assert any(len(c["images"]) == 2 for c in dupes["clusters"])  # across shards


def test_a_killed_worker_leaves_no_row_twice(mixed, tmp_path):
    from distributed import Client, LocalCluster

    from media_catalog.cluster import run_plan

    for n in range(12):  # more shards than workers, so that some are in flight
        write_image(mixed / "d" / f"photo{n:02}.jpg", photo(100 + n, (1600, 1200)))
    out = RunFolder(tmp_path / "run")
    plan = plan_run([mixed], out, shard_size=1)
    with (
        LocalCluster(n_workers=3, threads_per_worker=1, processes=True) as cluster,
        Client(cluster) as client,
    ):
        pids = client.run(os.getpid)

        def kill_one() -> None:
            while not done_shards(out):
                time.sleep(0.01)
            os.kill(next(iter(pids.values())), signal.SIGKILL)

        import threading

        killer = threading.Thread(target=kill_one)
        killer.start()
        summary = run_plan(plan, out, cluster.scheduler_address)
        killer.join()
        assert summary.failed == {} and summary.ran == len(plan.shards)
        assert set(client.run(os.getpid).values()) != set(pids.values())  # one was replaced
    db = tmp_path / "run.sqlite"
    from media_catalog.merge import import_files

    import_files(open_store(db), [out])
    local = tmp_path / "local.sqlite"
    from media_catalog.pipeline import scan

    scan([mixed], open_store(local), workers=1)
    assert rows(db) == rows(local)


def test_a_killed_driver_is_finished_by_running_it_again(mixed, tmp_path):
    for n in range(8):
        write_image(mixed / "d" / f"photo{n:02}.jpg", photo(200 + n, (2400, 1800)))
    command = [
        sys.executable, "-m", "media_catalog", "scan", str(mixed), "--out", str(tmp_path / "run"),
        "--scheduler", "none", "--shard-size", "1", "--workers", "1", "-q", "-f", "json",
    ]  # fmt: skip
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    run = RunFolder(tmp_path / "run")
    while len(done_shards(run)) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    before = done_shards(run)
    total = len(orjson.loads((tmp_path / "run" / "plan.json").read_bytes())["shards"])
    assert 3 <= len(before) < total
    finish = subprocess.run(command, capture_output=True, check=True)
    summary = orjson.loads(finish.stdout)
    assert summary["done_before"] == len(before)
    assert summary["ran"] == total - len(before) and summary["failed"] == 0
    db = tmp_path / "run.json"
    imported = subprocess.run(
        [sys.executable, "-m", "media_catalog", "import", str(tmp_path / "run"), "--db", str(db)],
        capture_output=True,
    )
    assert imported.returncode == 0, imported.stderr
    local = tmp_path / "local.json"
    subprocess.run(
        [sys.executable, "-m", "media_catalog", "scan", str(mixed), "--db", str(local), "-q"],
        check=True,
        capture_output=True,
    )
    assert rows(db) == rows(local)


def test_an_unfinished_run_is_not_imported(cli, mixed, tmp_path):
    assert cli("scan", mixed, "--out", "run", "--scheduler", "none").exit_code == 0
    next((tmp_path / "run" / "done").iterdir()).unlink()
    result = cli("import", "run")
    assert result.exit_code == 1
    assert "1 of its 2 shards is not done" in result.stderr
    assert "run the same scan with the same --out again" in result.stderr


def test_the_near_pair_search_on_a_cluster_finds_the_same_pairs():
    import numpy as np
    from distributed import Client, LocalCluster

    from media_catalog.cluster import ClusterSearch
    from media_catalog.hamming import brute_pairs, pairs_within

    rng = np.random.default_rng(7)
    n = 30_000  # past hamming.BRUTE_BELOW: the local search is the indexed one
    base = rng.integers(0, 2**63, n // 2, dtype=np.int64).astype(np.uint64) << np.uint64(1)
    flips = np.zeros(n // 2, dtype=np.uint64)
    for _ in range(14):  # near copies 0 to 14 bits away
        bit = np.uint64(1) << rng.integers(0, 64, n // 2).astype(np.uint64)
        flips ^= np.where(rng.random(n // 2) < 0.7, bit, np.uint64(0))
    codes = np.concatenate([base, base ^ flips])
    confirm = codes ^ (rng.random(n) < 0.5).astype(np.uint64)
    owner = np.arange(n, dtype=np.int64)
    owner[n // 2 : n // 2 + 50] = owner[:50]  # views of one image: never paired
    apart = rng.random(n) < 0.3
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
        Client(cluster) as client,
    ):
        search = ClusterSearch(client)
        for radius, cap in ((12, 16), (2, 16), (6, 12)):  # the three searches of dupes
            expected = pairs_within(codes, radius, confirm, cap, owner, apart)
            found = search(codes, radius, confirm, cap, owner, apart)
            assert len(expected[0]) > 0
            assert all(np.array_equal(a, b) for a, b in zip(found, expected, strict=True))
    # and every pair within 12 bits among the first 2,000 rows, by brute force
    i, j, _ = brute_pairs(codes, 12, rows=2_000)
    keep = (np.bitwise_count(confirm[i] ^ confirm[j]) <= 16) & (owner[i] != owner[j])
    keep &= ~(apart[i] & apart[j])
    found = set(zip(*pairs_within(codes, 12, confirm, 16, owner, apart), strict=True))
    assert set(zip(i[keep].tolist(), j[keep].tolist(), strict=True)) <= found


def test_dupes_on_a_cluster_gives_the_same_report(cli, samples):
    assert cli("scan", samples, "--assets", samples / "assets", "-q").exit_code == 0
    here = cli("dupes", "-f", "json")
    there = cli("dupes", "-f", "json", "--scheduler", "local")
    assert there.exit_code == 0, there.output
    assert there.stdout == here.stdout and '"near"' in here.stdout
    transforms = [
        cli("dupes", "--transforms", "-f", "csv", *extra)
        for extra in ([], ["--scheduler", "local"])
    ]
    assert transforms[0].stdout == transforms[1].stdout


def test_a_run_written_to_an_object_store_imports_alike(cli, mixed, s3, tmp_path, monkeypatch):
    import boto3

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    key = f"crawl/{Path(cli.db).suffix[1:]}"  # (one server for the module: a prefix per store)
    run = f"s3://runs/{key}"
    boto3.client("s3", endpoint_url=s3, region_name="us-east-1").create_bucket(Bucket="runs")
    result = cli(
        "scan", mixed, "--out", run, "--endpoint-url", s3, "--workers", "2",
        "--shard-size", "3", "-f", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["ran"] == 4
    listed = boto3.client("s3", endpoint_url=s3, region_name="us-east-1").list_objects_v2(
        Bucket="runs", Prefix=f"{key}/"
    )
    keys = {entry["Key"] for entry in listed["Contents"]}
    assert {f"{key}/plan.json", f"{key}/done/000003.json"} <= keys
    assert f"{key}/images/000000.parquet" in keys and len(keys) == 1 + 4 * 6
    again = cli("scan", mixed, "--out", run, "--endpoint-url", s3, "-f", "json")
    assert orjson.loads(again.stdout)["ran"] == 0
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3)  # `import` takes the endpoint as the AWS tools do
    imported = cli("import", run, "--db", "imported" + Path(cli.db).suffix)
    assert imported.exit_code == 0, imported.output
    assert cli("scan", mixed, "-q").exit_code == 0
    assert rows(tmp_path / ("imported" + Path(cli.db).suffix)) == rows(tmp_path / cli.db)
    missing = cli("import", "s3://runs/nothing-here", "--db", "x.json")
    assert missing.exit_code == 1 and "holds no plan.json" in missing.stderr


def test_the_read_commands_answer_from_a_run_as_from_its_import(cli, mixed, tmp_path):
    options = ["--assets", SAMPLES / "assets", "--out", "run", "--scheduler", "none"]
    assert cli("scan", mixed, *options, "--shard-size", "2").exit_code == 0
    assert cli("import", "run", "-f", "json").exit_code == 0
    image = orjson.loads(cli("export").stdout)["images"][0]
    commands = [
        ["dupes", "-f", "json"],
        ["dupes", "-f", "csv", "--transforms"],
        ["stats", "-f", "json"],
        ["export"],
        ["export", "-f", "csv"],
        ["search", "-f", "json", "harbour"],
        ["search", "-f", "json", "uses:>1"],
        ["search", "-f", "json", "dup:yes"],
        ["search", "-f", "json", "unresolved:yes"],
        ["lookup", image["phash"], "-f", "json"],
        ["lookup", f"sha256:{image['sha256'][:8]}", "-f", "json"],
        ["lookup", "--image", mixed / "a" / "harbour.jpg", "-f", "json"],
        ["show", image["sha256"], "-f", "json", "--history"],
        ["audit", "-f", "json"],
    ]
    for command in commands:
        from_run = cli(*command, "--db", "run")
        assert from_run.exit_code == 0, (command, from_run.output)
        assert from_run.stdout == cli(*command).stdout, command
    refused = cli("scan", mixed, "--db", "run")
    assert refused.exit_code == 1
    assert "read-only; bring it into a catalogue" in refused.stderr
    assert f"media-catalog import {tmp_path / 'run'} --db catalogue.sqlite" in refused.stderr


def test_a_slow_image_on_a_dask_worker_is_stopped_and_its_shard_done(mixed, tmp_path):
    from media_catalog import fingerprint
    from media_catalog.cluster import dask_client, run_plan

    from . import hostile

    # about 2 s of decoding under a limit raised for the test (as in test_hostile)
    (mixed / "e").mkdir()
    (mixed / "e" / "slow.jpg").write_bytes(hostile.many_scans(1024, 6000))
    out = RunFolder(tmp_path / "run")
    plan = plan_run([mixed], out, shard_size=2, image_seconds=0.5)
    module = sys.modules[fingerprint.__module__]

    def raise_the_scan_limit() -> None:
        module.MAX_JPEG_SCANS = 10**6

    with dask_client("local", 2) as client:
        client.run(raise_the_scan_limit)
        warnings: list[str] = []
        summary = run_plan(plan, out, client.scheduler.address, on_warning=warnings.append)
    assert summary.failed == {} and summary.ran == len(plan.shards)
    assert warnings == []  # the LocalCluster's workers are set up as advised
    db = tmp_path / "run.json"
    from media_catalog.merge import import_files

    import_files(open_store(db), [out])
    errors = {e.path.rsplit("/", 1)[-1]: e for e in open_store(db).errors()}
    assert errors["slow.jpg"].code == "too-slow"
    assert "took over 0.5 s" in errors["slow.jpg"].message


def test_a_planned_file_that_now_leads_outside_the_roots_is_not_read(mixed, tmp_path):
    from media_catalog.cluster import run_plan

    out = RunFolder(tmp_path / "run")
    plan = plan_run([mixed], out, shard_size=100)
    secret = tmp_path / "secret.md"
    secret.write_text("SECRET ![x](y.jpg) SECRET", encoding="utf-8")
    (mixed / "b" / "notes.md").unlink()
    (mixed / "b" / "notes.md").symlink_to(secret)  # after planning: the plan is old
    assert run_plan(plan, out, "none").failed == {}
    db = tmp_path / "run.sqlite"
    from media_catalog.merge import import_files

    import_files(open_store(db), [out])
    store = open_store(db)
    assert not any("SECRET" in (o.context_after or "") for o in store.occurrences())
    codes = {e.path: e.code for e in store.errors()}
    assert codes[str(mixed / "b" / "notes.md")] == "outside-roots"


def test_options_that_need_out_and_bad_schedulers_are_refused(cli, mixed, tmp_path):
    for args in (["--scheduler", "none"], ["--shard-size", "5"]):
        result = cli("scan", mixed, *args)
        assert result.exit_code == 1 and "give --out too" in result.stderr
    for command in (["scan", mixed, "--out", "run"], ["dupes"]):
        result = cli(*command, "--scheduler", "Local")
        assert result.exit_code == 1, result.output
        assert "--scheduler 'Local': give none" in result.stderr
    assert not (tmp_path / "run").exists()  # refused before planning
    first = cli(
        "scan", mixed, "--out", "run", "--scheduler", "none", "--shard-size", "4", "-f", "json"
    )
    assert first.exit_code == 0, first.output
    # the same run again, its shard size from its plan
    again = cli("scan", mixed, "--out", "run", "--scheduler", "none", "-f", "json")
    assert again.exit_code == 0
    assert orjson.loads(again.stdout)["done_before"] == orjson.loads(first.stdout)["shards"] == 3
    other = cli("scan", mixed, "--out", "run", "--scheduler", "none", "--shard-size", "5")
    assert other.exit_code == 1 and "holds a run cut into shards of 4 files" in other.stderr
    strict = cli("scan", mixed, "--out", "run", "--scheduler", "none", "--strict")
    assert strict.exit_code == 1  # the run recorded errors
    assert RunFolder("run").where == str(tmp_path / "run")  # workers elsewhere write here too


def test_a_run_with_no_near_pair_or_no_file_answers(cli, tmp_path):
    for name, files in (("two", 2), ("empty", 0)):
        folder = tmp_path / name
        folder.mkdir()
        for n in range(files):
            write_image(folder / f"p{n}.jpg", photo(300 + n))
        assert cli("scan", folder, "--out", f"{name}-run", "--scheduler", "none").exit_code == 0
        for command in (["stats"], ["dupes"], ["audit"], ["search", "dup:yes"], ["export"]):
            result = cli(*command, "--db", f"{name}-run", "-f", "json")
            assert result.exit_code == 0, (name, command, result.output)
    assert orjson.loads(cli("stats", "--db", "two-run", "-f", "json").stdout)["images"] == 2
    refused = cli("audit", "--article", "nowhere.html", "--db", "two-run")
    assert "Traceback" not in refused.output


def test_an_import_of_a_run_counts_each_image_once(cli, mixed, tmp_path):
    assert (
        cli("scan", mixed, "--out", "run", "--scheduler", "none", "--shard-size", "1").exit_code
        == 0
    )
    imported = orjson.loads(cli("import", "run", "-f", "json").stdout)
    assert imported["images"] == orjson.loads(cli("stats", "-f", "json").stdout)["images"]


def test_a_message_for_another_shard_size(cli, mixed):
    assert cli("scan", mixed, "--out", "run", "--scheduler", "none").exit_code == 0
    other = cli("scan", mixed, "--out", "run", "--scheduler", "none", "--shard-size", "3")
    assert "cut into shards of 10,000 files; run it again with --shard-size 10000" in other.stderr


def test_only_the_scratch_folders_of_dead_scans_are_removed(tmp_path, monkeypatch):
    import fcntl
    import tempfile

    from media_catalog import shards

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead, live, young = (tmp_path / f"{shards._SCRATCH}{name}" for name in ("a", "b", "c"))
    for folder in (dead, live, young):
        folder.mkdir()
        (folder / shards._LOCK).touch()
    for folder in (dead, live):
        os.utime(folder, (time.time() - 120, time.time() - 120))
    with open(live / shards._LOCK) as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a scan running (in another process: flock is per file)
        pid = os.fork()
        if pid == 0:
            shards._clean_up_after_the_dead()
            os._exit(0)
        os.waitpid(pid, 0)
    assert not dead.exists() and live.exists() and young.exists()


def test_an_object_store_prefix_is_scanned_in_shards(cli, s3, tmp_path, monkeypatch):
    import boto3

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    bucket = f"crawl-{Path(cli.db).suffix[1:]}"  # (one server for the module)
    client.create_bucket(Bucket=bucket)
    harbour = encode(photo(1, (400, 300)), quality=92)
    objects = {
        "2019/a/story.html": "<figure><img src='../b/harbour.jpg' alt='Harbour'><figcaption>"
        "The harbour</figcaption></figure><img src='local.png' alt='Local'>",
        "2019/a/local.png": encode(photo(2), "PNG"),
        "2019/b/harbour.jpg": harbour,
        "2019/b/copy.jpg": encode(photo(1, (400, 300)), quality=40),
        "2019/c/notes.md": "![local](../a/local.png)\n\n![gone](nope.jpg)\n",
        "2019/d/broken.jpg": harbour[:300],
        "2019/d/readme.bin": b"not a kind the scan reads",
        "2020/other.jpg": encode(photo(5)),  # outside the prefix scanned
    }
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    prefix = f"s3://{bucket}/2019"
    refused = cli("scan", prefix)
    assert refused.exit_code == 1 and "give --out" in refused.stderr
    result = cli(
        "scan", prefix, "--out", "run", "--endpoint-url", s3, "--shard-size", "1",
        "--workers", "2", "-f", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    assert summary["shards"] == summary["ran"] == 6 and summary["failed"] == 0
    assert cli("import", "run").exit_code == 0
    export = orjson.loads(cli("export").stdout)
    assert "media-catalog-shard-" not in cli("export").stdout  # no scratch path is kept
    by_src = {o["src"]: o for i in export["images"] for o in i["occurrences"]}
    story = by_src["../b/harbour.jpg"]  # read by another shard than the image's own
    assert story["article"] == f"{prefix}/a/story.html" and story["caption"] == "The harbour"
    assert story["file"] == f"{prefix}/b/harbour.jpg"
    files = {path for image in export["images"] for path in image["files"]}
    assert f"{prefix}/b/harbour.jpg" in files and f"{prefix}/b/copy.jpg" in files
    assert not any("2020" in path for path in files)
    assert {u["src"]: u["reason"] for u in export["unresolved"]} == {"nope.jpg": "missing"}
    assert [e["path"] for e in export["errors"]] == [f"{prefix}/d/broken.jpg"]
    dupes = orjson.loads(cli("dupes", "-f", "json", "--db", "run").stdout)
    assert any(len(cluster["images"]) == 2 for cluster in dupes["clusters"])
    # a run written to the object store is read there too, as from its import
    assert cli("scan", prefix, "--out", f"{prefix}-run", "--endpoint-url", s3).exit_code == 0
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3)
    for command in (["stats", "-f", "json"], ["search", "-f", "json", "harbour"], ["export"]):
        from_store = cli(*command, "--db", f"{prefix}-run")
        assert from_store.exit_code == 0, from_store.output
        assert from_store.stdout == cli(*command).stdout
    absent = cli("stats", "--db", f"s3://{bucket}/nothing")
    assert absent.exit_code == 1 and "holds no plan.json" in absent.stderr


def test_an_oversized_bucket_is_left_out_alike_here_and_on_a_cluster():
    import numpy as np
    from distributed import Client, LocalCluster

    from media_catalog.cluster import ClusterSearch
    from media_catalog.hamming import BUCKET_CAP, oversized, pairs_within
    from media_catalog.records import ImageRecord
    from media_catalog.similarity import ViewTable

    rng = np.random.default_rng(3)
    same = BUCKET_CAP + 1_000  # one photo recompressed that many times: one code
    others = rng.integers(0, 2**63, 9_000, dtype=np.int64).astype(np.uint64)
    codes = np.concatenate([np.full(same, 0x0123456789ABCDEF, dtype=np.uint64), others])
    codes = np.concatenate([codes, codes[-50:] ^ np.uint64(0b101)])  # 50 near pairs
    n = len(codes)
    owner, apart = np.arange(n, dtype=np.int64), np.zeros(n, dtype=bool)
    assert oversized(codes, 12) == (4, 4 * same)  # the same bucket in each of the 4 chunks
    found = pairs_within(codes, 12, codes, 64, owner, apart)
    pairs = set(zip(found[0].tolist(), found[1].tolist(), strict=True))
    assert {(n - 100 + k, n - 50 + k) for k in range(50)} <= pairs  # the planted near pairs
    assert found[0].min() >= same  # none among the codes left out
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
        Client(cluster) as client,
    ):
        there = ClusterSearch(client)(codes, 12, codes, 64, owner, apart)
    assert all(np.array_equal(a, b) for a, b in zip(found, there, strict=True))
    # and a duplicate report says so
    table = ViewTable(transforms=False)
    for code in codes.tolist():
        table.add(ImageRecord({"phash": f"{code:016x}", "dhash": f"{code:016x}"}))
    table.pairs(12)
    buckets, left = table.oversized
    assert buckets >= 4 and left >= 4 * same
