"""Nox sessions: `nox` runs lint and tests; `nox -s migration_tests` checks every store's migrations.

Sessions start no servers themselves: the tests and `python -m dbtools.verify` use `dbtools.sandbox`
(Docker where an engine answers, else local server binaries or embedded engines). Virtualenvs are made
with uv where it is installed (else virtualenv) and reused; `nox -R` also skips the installs.
`migration_tests(store=...)` installs only what that store needs: the packages its backend declares
(`packages`) plus the core, never another store's driver (chdb and pyarrow only for clickhouse).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))  # store names and their packages come from the backends
from dbtools import backends

ROOT = Path(__file__).parent

STORES = list(backends.REGISTRY)
# requirements.txt packages the migration tests never import: the task fronts and the seed generators
NOT_FOR_MIGRATION_TESTS = {"invoke", "nox", "numpy", "tqdm"}

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_venv = "yes"
nox.options.default_venv_backend = "uv|virtualenv"


def _requirements(file: str) -> dict[str, str]:
    """A requirements file as {package name: its line with the version range} (`-r` lines left out)."""
    lines = {}
    for line in (ROOT / file).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            lines[re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0].lower()] = line
    return lines


def store_requirements(store: str) -> list[str]:
    """The requirement lines `python -m dbtools.verify --db STORE` needs: the core (requirements.txt without
    any store's packages) and the packages this store's backend declares, pinned as the requirements files
    pin them (a sandbox server shipped as a Python package, like SecantusDB, is in requirements-dev.txt)."""
    every_store = {name for s in STORES for name in backends.load(s).packages}
    runtime = _requirements("requirements.txt")
    pinned = {**_requirements("requirements-dev.txt"), **runtime}
    core = [line for name, line in runtime.items() if name not in every_store | NOT_FOR_MIGRATION_TESTS]
    return core + [pinned[name] for name in backends.load(store).packages]


def _install_all(session: nox.Session) -> None:
    session.install("-r", "requirements-dev.txt")
    session.install("--no-deps", "-e", ".")


def _pytest(session: nox.Session, *paths: str) -> None:
    session.run("pytest", *paths, *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The pytest suite (`nox -s tests -- -k sandbox -x` passes options on)."""
    _install_all(session)
    _pytest(session)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format) over the whole project, mypy (strict) over dbtools/, then the migration linter."""
    _install_all(session)
    session.run("ruff", "check", ".", *session.posargs)
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("python", "-m", "dbtools", "lint")


@nox.session
@nox.parametrize("store", STORES)
def migration_tests(session: nox.Session, store: str) -> None:
    """Every migration from scratch, on top of the previous release (`-- --previous REF`), and round trip."""
    session.install(*store_requirements(store))
    session.install("--no-deps", "-e", ".")
    skipped = Path(session.create_tmp()) / f"skipped-{store}"
    skipped.unlink(missing_ok=True)
    session.run("python", "-m", "dbtools.verify", "--db", store, "--skipped-file", str(skipped), *session.posargs)
    if skipped.exists():
        session.skip(skipped.read_text().strip())


@nox.session(default=False)
def rehearse(session: nox.Session) -> None:
    """Apply pending migrations to a backup in a throwaway sandbox: `nox -s rehearse -- FOLDER [--json]`."""
    if not session.posargs:
        session.error("pass the backup folder: nox -s rehearse -- backups/postgres-...-v3")
    _install_all(session)
    folder, *rest = session.posargs
    session.run("python", "-m", "dbtools", "rehearse", "--from", folder, *rest)
