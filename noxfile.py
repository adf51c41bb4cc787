"""Nox sessions: `nox` runs lint and tests; `nox -s migration_tests` checks every store's migrations.

Sessions start no servers themselves: the tests and `python -m dbtools.verify` use `dbtools.sandbox`
(Docker where an engine answers, else local server binaries or embedded engines). `nox -R` reuses the
virtualenvs and skips the installs for a fast inner loop.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))  # the store names come from the registry, nowhere else
from dbtools.backends import REGISTRY

STORES = list(REGISTRY)

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_venv = "yes"


def _install(session: nox.Session) -> None:
    session.install("-r", "requirements-dev.txt")
    session.install("--no-deps", "-e", ".")


def _pytest(session: nox.Session, *paths: str) -> None:
    session.run("pytest", *paths, *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The pytest suite (`nox -s tests -- -k sandbox -x` passes options on)."""
    _install(session)
    _pytest(session)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole project, then the migration linter over migrations/."""
    _install(session)
    session.run("ruff", "check", ".", *session.posargs)
    session.run("python", "-m", "dbtools", "lint")


@nox.session
@nox.parametrize("store", STORES)
def migration_tests(session: nox.Session, store: str) -> None:
    """Every migration from scratch, on top of the previous release (`-- --previous REF`), and round trip."""
    _install(session)
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
    _install(session)
    folder, *rest = session.posargs
    session.run("python", "-m", "dbtools", "rehearse", "--from", folder, *rest)
