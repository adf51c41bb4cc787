"""Read `KEY=value` env files (docker/env.local) safely: quotes, spaces, comments, `export`, no shell evaluation.

The seed's `export $(grep -v '^#' docker/env.local | xargs)` splits values at spaces, keeps quotes
literally and breaks on `#` inside values. Instead, in Python: `envfile.load("docker/env.local")`;
in a shell: `eval "$(python -m dbtools.envfile docker/env.local)"` (every value comes out shell-quoted;
variables already set in the shell win unless `--override`).

Format (the common subset of docker compose's env_file and python-dotenv):

    # comment                      blank lines and comment lines are skipped
    export NAME=value              an `export ` prefix is allowed
    NAME = value with spaces       spaces around `=` and the value are trimmed; inner spaces kept
    NAME=value # comment           ` #` starts a comment in an unquoted value
    NAME='literal $HOME \\n'        single quotes: taken as written, may span lines
    NAME="line\\nnext \\"q\\""        double quotes: \\n \\t \\r \\" \\\\ \\$ escapes, may span lines

`$VAR` and `$(...)` are never expanded: the value is what the file says.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import MutableMapping, Sequence
from pathlib import Path

from dbtools.errors import ConfigError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def parse(text: str, *, source: str = "env file") -> dict[str, str]:
    """The variables defined in `text`, in file order (a later line wins); ConfigError names file and line."""
    result: dict[str, str] = {}
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n")
    index = 0
    while index < len(lines):
        number = index + 1
        line = lines[index].strip()
        index += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export") :].lstrip()
        name, equals, rest = line.partition("=")
        name = name.strip()
        if not equals or not _NAME.fullmatch(name):
            raise ConfigError(
                f"{source} line {number}: expected NAME=value, got {_excerpt(line)}",
                hint="write one NAME=value per line (NAME of letters, digits and _); quote values with spaces",
            )
        rest = rest.lstrip()
        if rest[:1] in ("'", '"'):
            value, tail, index = _quoted(rest, lines, index, source, number)
            if tail.strip() and not tail.strip().startswith("#"):
                raise ConfigError(
                    f"{source} line {number}: unexpected text after the closing quote of {name}: {_excerpt(tail)}",
                    hint="put comments after a space and #, or quote the whole value",
                )
        else:
            value = re.split(r"\s#", rest, maxsplit=1)[0].rstrip()
        result[name] = value
    return result


def _quoted(rest: str, lines: list[str], index: int, source: str, number: int) -> tuple[str, str, int]:
    """(value, text after the closing quote, next line index) for a value opening with a quote."""
    quote, text = rest[0], rest[1:]
    out: list[str] = []
    while True:
        i = 0
        while i < len(text):
            char = text[i]
            if char == quote:
                return "".join(out), text[i + 1 :], index
            if quote == '"' and char == "\\" and i + 1 < len(text):
                out.append(_ESCAPES.get(text[i + 1], "\\" + text[i + 1]))
                i += 2
                continue
            out.append(char)
            i += 1
        if index >= len(lines):
            raise ConfigError(
                f"{source} line {number}: the {quote} quote opened here is never closed",
                hint=f"close the value with {quote}",
            )
        out.append("\n")  # a quoted value may span lines
        text = lines[index]
        index += 1


def _excerpt(text: str, limit: int = 40) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


def read(path: str | os.PathLike[str]) -> dict[str, str]:
    """Parse the env file at `path`; a missing file is a ConfigError with the path."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"env file {file} does not exist", hint="create it or pass another path") from None
    return parse(text, source=str(file))


def load(
    path: str | os.PathLike[str],
    *,
    override: bool = False,
    environ: MutableMapping[str, str] | None = None,
) -> dict[str, str]:
    """Put the file's variables into `environ` (os.environ); variables already set win unless `override`.

    Returns the variables that were set."""
    target = os.environ if environ is None else environ
    applied = {}
    for name, value in read(path).items():
        if override or name not in target:
            target[name] = value
            applied[name] = value
    return applied


def shell_exports(variables: dict[str, str]) -> str:
    """`export NAME='value'` lines, each value quoted for POSIX shells."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in variables.items())


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m dbtools.envfile [--override] FILE...`: print `export` lines for `eval "$(...)"`.

    Later files win over earlier ones; variables already set in the environment win over the files
    unless `--override` (as with docker compose and python-dotenv). Exit 2 on a malformed file."""
    paths = list(sys.argv[1:] if argv is None else argv)
    override = "--override" in paths
    paths = [p for p in paths if p != "--override"]
    if not paths or paths[0] in ("-h", "--help"):
        print('usage: eval "$(python -m dbtools.envfile [--override] docker/env.local [MORE_FILES...])"')
        return 0 if paths else 2
    merged: dict[str, str] = {}
    try:
        for path in paths:
            merged.update(read(path))
    except ConfigError as exc:
        print(f"error: {exc.message}\nhint: {exc.hint}", file=sys.stderr)
        print("false")  # so that `eval "$(...)"` fails too instead of silently exporting nothing
        return exc.exit_code
    if not override:
        merged = {name: value for name, value in merged.items() if name not in os.environ}
    sys.stdout.write(shell_exports(merged))
    return 0


if __name__ == "__main__":
    sys.exit(main())
