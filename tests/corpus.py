"""The shared corpus of real migration histories (../shared/corpus, or $DBTOOLS_CORPUS), laid out as
dbtools reads them: each set's files linked into <tmp>/<store>/ under dbtools-style names."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def root() -> Path | None:
    """The corpus folder: $DBTOOLS_CORPUS, else `shared/corpus` beside this checkout or beside the main
    checkout this git worktree belongs to."""
    if os.environ.get("DBTOOLS_CORPUS"):
        return Path(os.environ["DBTOOLS_CORPUS"])
    candidates = [ROOT.parent / "shared" / "corpus"]
    git = ROOT / ".git"
    if git.is_file():  # a worktree: .git says "gitdir: <main>/.git/worktrees/<name>"
        gitdir = Path(git.read_text().split(":", 1)[1].strip())
        candidates.append(gitdir.parents[2].parent / "shared" / "corpus")
    return next((c for c in candidates if (c / "MANIFEST.json").is_file()), None)


def entry(name: str) -> dict[str, Any]:
    """The MANIFEST.json entry of a set ("langfuse/postgres")."""
    folder = root()
    if folder is None or not (folder / name).is_dir():
        reason = f"corpus set {name} not found (set DBTOOLS_CORPUS)"
        if os.environ.get("CI"):  # CI has shared/ beside its clone: the real histories must apply there
            pytest.fail(f"CI must apply the corpus: {reason}")
        pytest.skip(reason)
    return next(s for s in json.loads((folder / "MANIFEST.json").read_text())["sets"] if s["path"] == name)


def lay_out(name: str, target: Path, store: str) -> Path:
    """Link set `name`'s files into target/<store>/ under names dbtools reads; return target.

    authelia's V0001.Name.up.sql becomes 0001_Name.up.sql; prisma's 01_init/migration.sql becomes
    01_init.sql; every other form is linked as it is."""
    entry(name)
    source = root() / name  # type: ignore[operator]
    folder = target / store
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        if path.is_dir() and (path / "migration.sql").is_file():
            (folder / f"{path.name}.sql").symlink_to(path / "migration.sql")
        elif re.match(r"^V\d+\.", path.name):
            (folder / path.name[1:].replace(".", "_", 1)).symlink_to(path)
        elif path.is_file():
            (folder / path.name).symlink_to(path)
    return target
