"""The walk: every file once, however the paths named overlap."""

import os

from media_catalog.walk import walk


def test_each_file_comes_once_however_the_paths_named_overlap(tmp_path):
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    for path in (root / "a.jpg", root / "sub" / "b.jpg", tmp_path / "elsewhere" / "c.jpg"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    os.symlink(tmp_path / "elsewhere", root / "linked")  # os.walk does not enter it
    named = [
        root / "sub" / "b.jpg",  # inside a folder named after it
        root,
        root / "sub",
        root / "a.jpg",
        root / "a.jpg",  # twice
        root / "linked" / "c.jpg",  # below a linked folder: the walk of `root` never reaches it
        *(root / "sub" / f"many-{n}.jpg" for n in range(300)),  # as `scan site/sub/*.jpg`
    ]
    for n in range(300):
        (root / "sub" / f"many-{n}.jpg").write_bytes(b"x")
    errors = []
    found = [source.path for source in walk(named, errors)]
    assert sorted(found) == sorted(
        [
            root / "a.jpg",
            root / "sub" / "b.jpg",
            root / "linked" / "c.jpg",
            *(root / "sub" / f"many-{n}.jpg" for n in range(300)),
        ]
    )
    assert len(found) == len(set(found)) and errors == []
