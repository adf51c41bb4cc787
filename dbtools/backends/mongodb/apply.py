"""Running a migration: Python steps with progress after each, or a JavaScript file through mongosh."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable, Sequence

from dbtools import scripts
from dbtools.backends.mongodb.history import MongoHistory
from dbtools.backends.mongodb.lock import MongoLock
from dbtools.backends.mongodb.sandbox import find_mongosh
from dbtools.errors import MissingDependency, ScriptFailed
from dbtools.migrations import Migration
from dbtools.plan import AppliedMigration
from dbtools.settings import mask
from dbtools.sqltext import Statement


class MongoApply(MongoHistory, MongoLock):
    """apply and revert."""

    def _steps(
        self, migration: Migration, statements: Sequence[Statement], start_at: int, *, down: bool = False
    ) -> tuple[Callable[[int], None], scripts.StepOptions]:
        """The step and the options `scripts.run_steps` / `revert_steps` run the up (down) steps with."""
        if migration.kind == "js":
            shell = _Mongosh(self._mongosh_path(migration))
            direction = "down" if down else "up"
            options: scripts.StepOptions = {"start_at": start_at, "guard": self._check_lease, "cancel": shell.interrupt}
            return lambda i: self._run_js(shell, migration, direction), options
        fns = scripts.callables(migration, scripts.load(migration, down=down), statements)
        return lambda i: fns[i](self._db), {"start_at": start_at, "guard": self._check_lease}

    def apply(self, migration: Migration, statements: Sequence[Statement], *, start_at: int = 0) -> AppliedMigration:
        call, options = self._steps(migration, statements, start_at)
        return scripts.run_steps(self, migration, statements, call, **options)

    def revert(self, migration: Migration, statements: Sequence[Statement], *, start_at: int = 0) -> None:
        call, options = self._steps(migration, statements, start_at, down=True)
        scripts.revert_steps(self, migration, statements, call, **options)

    @staticmethod
    def _mongosh_path(migration: Migration) -> str:
        found = find_mongosh(migration.path)
        if found is None:
            raise MissingDependency(
                f"mongodb: {migration.path.name} is a JavaScript migration and mongosh is not installed; nothing ran",
                hint="run `npm install` in the project (package.json brings mongosh), or npm install -g mongosh, "
                "or write the migration as a .py file with up(db)",
            )
        return found

    def _run_js(self, shell: _Mongosh, migration: Migration, function: str) -> None:
        """Run the file in mongosh with `db` connected; then call its up/down function if it defines one
        (a plain seed-style script does its work at top level). The URL travels in the environment,
        never on the command line where `ps` would show the password."""
        script = (
            "db = connect(process.env.DBTOOLS_MONGO_URL);\n"
            f"load({json.dumps(str(migration.path))});\n"
            f"if (typeof {function} === 'function') {{ {function}(db); }}\n"
        )
        env = {**os.environ, "DBTOOLS_MONGO_URL": self.uri(credentials=True)}
        code, output = shell.run(script, env)
        if code:
            lines = [line for line in mask(output.strip(), self.settings).splitlines() if line.strip()]
            error = next((line for line in lines if "Error" in line), lines[-1] if lines else "")
            raise ScriptFailed(f"mongosh exited with {code}: {error.strip()}")


class _Mongosh:
    """mongosh runs of one migration; `interrupt()` (Ctrl-C, from another thread) stops the one running,
    as the terminal's own Ctrl-C does when it reaches mongosh too."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._running: subprocess.Popen[str] | None = None

    def run(self, script: str, env: dict[str, str]) -> tuple[int, str]:
        """(exit code, its error output, else its output) of `mongosh --eval script`."""
        with subprocess.Popen(
            [self.path, "--nodb", "--quiet", "--norc", "--eval", script],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as proc:
            self._running = proc
            try:
                out, err = proc.communicate()
            finally:
                self._running = None
        return proc.returncode, err or out

    def interrupt(self) -> None:
        proc = self._running
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
