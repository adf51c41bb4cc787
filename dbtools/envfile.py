"""The project's settings file `.env`: read with python-dotenv (no interpolation), shell variables win.

Onboarding writes the addresses of the stores it set up to `.env` at the project root; the CLI
(`--env-file PATH`, `--no-env-file`), tasks.py, migrations/migrate.py and migrations/run.sh all read
it, so every front talks to the same servers. A variable already set in the environment wins over
the file. `$VAR` is never expanded: the value is what the file says.
"""

from __future__ import annotations

import io
import os
from collections.abc import MutableMapping
from pathlib import Path

from dbtools.errors import ConfigError

DEFAULT = ".env"


def read(path: str | os.PathLike[str]) -> dict[str, str]:
    """The variables of the env file at `path`, in file order (a later line wins).

    A missing file or a line python-dotenv cannot parse is a ConfigError naming file and line; a
    bare `NAME` without `=` sets nothing, as in python-dotenv."""
    from dotenv.parser import parse_stream

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"env file {file} does not exist", hint="create it, or leave --env-file out") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"env file {file} cannot be read: {exc}", hint="make it a UTF-8 text file") from None
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raise ConfigError(
                f"{file} line {binding.original.line}: expected NAME=value",
                hint="write one NAME=value per line; quote values with spaces or #",
            )
        if binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    return values


def load(
    path: str | os.PathLike[str],
    *,
    override: bool = False,
    environ: MutableMapping[str, str] | None = None,
) -> dict[str, str]:
    """Put the file's variables into `environ` (os.environ); variables already set win unless `override`.

    Returns the variables that were set."""
    target = os.environ if environ is None else environ
    applied = {name: value for name, value in read(path).items() if override or name not in target}
    target.update(applied)
    return applied


def load_default(path: str | os.PathLike[str] = DEFAULT) -> dict[str, str]:
    """Load `path` (the project's `.env`) when it exists; nothing, and no python-dotenv import, when not."""
    return load(path) if os.path.isfile(path) else {}
