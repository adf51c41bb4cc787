"""One settings file, read by every front: the CLI, tasks.py, migrations/migrate.py and run.sh read the
project's `.env`; variables already set in the shell win; `--env-file PATH` and `--no-env-file`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dbtools.sandbox import free_port
from dbtools.settings import Settings
from tests.cli.test_cli import ROOT, assert_one_clear_error

STORE_VARIABLES = ("POSTGRES_", "CLICKHOUSE_", "MONGO_", "REDIS_", "DBTOOLS_")


@pytest.fixture
def project(tmp_path: Path, pg: Settings) -> Path:
    """A project folder as a clone has it: tasks.py, migrations/{migrate.py,run.sh,postgres/}, and a .env
    that points at the test's PostgreSQL (as onboarding would write it)."""
    (tmp_path / "migrations" / "postgres").mkdir(parents=True)
    for name in ("migrate.py", "run.sh"):
        shutil.copy(ROOT / "migrations" / name, tmp_path / "migrations" / name)
    shutil.copy(ROOT / "tasks.py", tmp_path / "tasks.py")
    (tmp_path / "migrations" / "postgres" / "001_users.sql").write_text("CREATE TABLE users (id int);\n")
    (tmp_path / ".env").write_text(f"# written by scripts/onboard.sh\nPOSTGRES_URL='{pg.url}'\n")
    return tmp_path


def shell(**extra: str) -> dict[str, str]:
    """A new shell's environment: no store settings of the machine, the test's venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(STORE_VARIABLES)}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return {**env, "DBTOOLS_AUDIT": "off", "PYTHONPATH": str(ROOT), **extra}


def sh(command: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=shell(**extra), capture_output=True, text=True, timeout=120)


def where(pg: Settings) -> str:
    return f"{pg.host}:{pg.port}/{pg.database}"


def test_the_cli_reads_dot_env_and_the_shell_wins(project: Path, pg: Settings) -> None:
    status = [sys.executable, "-m", "dbtools", "status", "--db", "postgres"]
    done = sh(status, project)
    assert done.returncode == 0 and where(pg) in done.stdout, done.stdout + done.stderr
    elsewhere = f"postgres://u@127.0.0.1:{free_port()}/other"
    done = sh(status, project, POSTGRES_URL=elsewhere)  # set in the shell: the file does not override it
    assert_one_clear_error(done, 1, "connection refused")


def test_env_file_option_and_no_env_file(project: Path, pg: Settings, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = tmp_path_factory.mktemp("elsewhere") / "staging.env"
    other.write_text(f"POSTGRES_URL=postgres://u@127.0.0.1:{free_port()}/staging\n")
    base = [sys.executable, "-m", "dbtools"]
    assert_one_clear_error(sh([*base, "--env-file", str(other), "status", "--db", "postgres"], project), 1, "refused")
    assert_one_clear_error(sh([*base, "status", "--db", "postgres", "--env-file", str(other)], project), 1, "refused")
    done = sh([*base, "--no-env-file", "status", "--db", "postgres"], project, POSTGRES_PORT=str(free_port()))
    assert_one_clear_error(done, 1, "connection refused")  # the .env beside it was not read
    missing = sh([*base, "--env-file", str(project / "nope.env"), "status"], project)
    assert_one_clear_error(missing, 2, "nope.env does not exist")


def test_tasks_migrate_py_and_run_sh_read_the_projects_dot_env(project: Path, pg: Settings) -> None:
    elsewhere = project / "subfolder"
    elsewhere.mkdir()
    done = sh([str(project / "migrations" / "run.sh"), "postgres", "--dry-run"], elsewhere)
    assert done.returncode == 0 and "would-apply 001_users" in done.stdout, done.stdout + done.stderr
    done = sh([sys.executable, str(project / "migrations" / "migrate.py"), "postgres"], elsewhere)
    assert done.returncode == 0 and "applied     001_users" in done.stdout, done.stdout + done.stderr
    done = sh([sys.executable, "-m", "invoke", "status", "--db", "postgres"], project)
    assert done.returncode == 0 and where(pg) in done.stdout and "001_users" in done.stdout, done.stderr


def test_a_malformed_dot_env_is_one_error_naming_the_line(project: Path) -> None:
    (project / ".env").write_text('POSTGRES_DB=x\nPOSTGRES_PASSWORD="never closed\n')
    done = sh([sys.executable, "-m", "dbtools", "status"], project)
    assert_one_clear_error(done, 2, ".env line 2: expected NAME=value")


def test_no_env_file_means_no_dotenv_import(project: Path) -> None:
    probe = (
        "import sys; from dbtools.cli import main; main(['status', '--db', 'postgres']); print('dotenv' in sys.modules)"
    )
    with_file = sh([sys.executable, "-c", probe], project)
    assert with_file.stdout.strip().splitlines()[-1] == "True"
    (project / ".env").unlink()
    without = sh([sys.executable, "-c", probe], project, POSTGRES_PORT=str(free_port()))
    assert without.stdout.strip().splitlines()[-1] == "False", without.stdout + without.stderr
