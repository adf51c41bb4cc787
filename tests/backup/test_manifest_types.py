"""A manifest with fields of the wrong type (edited, or not written by dbtools) is one clear refusal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dbtools import backends, backup, cli
from tests.backup.conftest import MIGRATIONS, env_for
from tests.conftest import Servers, fresh_settings


@pytest.fixture(scope="module")
def redis_backup(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = fresh_settings(servers, "redis")
    r = backends.load("redis")(source)
    r.connect()
    r.client.set("k", "v")
    r.close()
    return backup.backup("redis", tmp_path_factory.mktemp("b"), settings=source, migrations_dir=MIGRATIONS)


def _set(path: list[str | int], value: object):
    def edit(manifest: dict) -> None:
        target = manifest
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


EDITS = {
    "version as text": _set(["version"], "3"),
    "negative version": _set(["version"], -1),
    "fractional version": _set(["version"], 1.5),
    "format as text": _set(["format"], "x"),
    "store as a number": _set(["store"], 5),
    "method missing": _set(["method"], None),
    "details a list": _set(["details"], []),
    "details nested": _set(["details"], {"db": {"x": 1}}),
    "files a number": _set(["files"], 5),
    "file entry a string": _set(["files", 0], "redis.dump"),
    "path a number": _set(["files", 0, "path"], 5),
    "path escaping the folder": _set(["files", 0, "path"], "../../etc/hostname"),
    "absolute path": _set(["files", 0, "path"], "/etc/hostname"),
    "size as text": _set(["files", 0, "size"], "12"),
    "sha256 missing": _set(["files", 0, "sha256"], None),
    "a list instead of an object": lambda m: m.clear(),
}


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_wrong_types_in_the_manifest_are_one_line(
    edit: str, redis_backup: Path, servers: Servers, tmp_path: Path, monkeypatch, capsys
) -> None:
    folder = tmp_path / redis_backup.name
    shutil.copytree(redis_backup, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    EDITS[edit](manifest)
    document = [] if edit == "a list instead of an object" else manifest
    (folder / "manifest.json").write_text(json.dumps(document))
    target = fresh_settings(servers, "redis")
    for name, value in env_for(target).items():
        monkeypatch.setenv(name, value)
    code = cli.main(["restore", "--db", "redis", "--from", str(folder), "--migrations-dir", str(MIGRATIONS)])
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 2, err
    assert lines[0].startswith("error: ") and "manifest" in lines[0] and lines[1].startswith("hint: "), err
    r = backends.load("redis")(target)
    r.connect()
    try:
        assert r.is_empty()  # nothing was restored
    finally:
        r.close()
