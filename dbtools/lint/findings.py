"""Lint values: the rule catalogue (stable ids and severities) and the Finding a rule reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Rule:
    """One rule: a stable id (used in output and in `-- dbtools:lint-ignore`), its severity, what it checks."""

    id: str
    severity: Severity
    summary: str
    ignorable: bool = True


@dataclass(frozen=True)
class Finding:
    """One problem at one line of one migration file."""

    store: str
    path: str
    line: int
    rule: str
    severity: Severity
    message: str
    hint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the shape `lint --json` prints)."""
        return asdict(self)

    def render(self) -> str:
        """`path:line: RULE severity: message`, plus an indented hint line."""
        text = f"{self.path}:{self.line}: {self.rule} {self.severity}: {self.message}"
        return text + (f"\n    hint: {self.hint}" if self.hint else "")


_CATALOGUE = (
    Rule("drop-without-deprecation", "error", "DROP TABLE / DROP COLUMN of an object no earlier migration deprecated"),
    Rule("ch-mutation", "error", "ClickHouse ALTER TABLE ... UPDATE / DELETE: a mutation rewriting every part it hits"),
    Rule("ch-modify-column-type", "error", "ClickHouse MODIFY COLUMN with a type: a mutation rewriting the column"),
    Rule("ch-rewrite", "warning", "ClickHouse MATERIALIZE / CLEAR, lightweight DELETE / UPDATE, OPTIMIZE ... FINAL"),
    Rule("ch-not-idempotent", "error", "ClickHouse DDL that fails when re-run (no IF [NOT] EXISTS)"),
    Rule("schema-and-data", "warning", "one migration both changes the schema and rewrites existing tables' data"),
    Rule("missing-down", "warning", "no down section: rollback cannot revert the migration"),
    Rule("file-name", "warning", "the description in NNN_description.ext is not short lower-case snake_case"),
    Rule(
        "unreadable",
        "error",
        "SQL the store cannot read: a psql meta-command, an unterminated string or comment, COPY data without \\.",
        ignorable=False,
    ),
    Rule("squawk-unavailable", "warning", "squawk is not installed or failed: PostgreSQL lock checks did not run"),
    # About the ignores themselves: not ignorable, or one comment could silence its own mistake.
    Rule("invalid-ignore", "error", "a lint-ignore comment without a rule id or without a reason", ignorable=False),
    Rule("ignore-unknown-rule", "warning", "a lint-ignore comment names a rule that does not exist", ignorable=False),
    Rule("unused-ignore", "warning", "a lint-ignore comment silences nothing in its file", ignorable=False),
)
RULES: dict[str, Rule] = {rule.id: rule for rule in _CATALOGUE}
SQUAWK_PREFIX = "squawk/"  # squawk's own rules appear as squawk/<its rule name>


def finding(rule_id: str, store: str, path: Path | str, line: int, message: str, hint: str | None = None) -> Finding:
    """A Finding of a catalogue rule, carrying that rule's severity."""
    return Finding(store, str(path), line, rule_id, RULES[rule_id].severity, message, hint)
