"""`status` once parsed: every store's plan read, printed as a summary or one JSON object, exit code
chosen (`--exit-code`). Imported by `cli._dispatch` only for `status`.
"""

from __future__ import annotations

from dbtools import runner
from dbtools.errors import ConnectionFailed, DbtoolsError

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:
    from dbtools.cli import Arguments


def run_status(args: Arguments, stores: list[str]) -> int:
    """Every store's status; an unreachable store is one row of its own and exit 1, the others in full."""
    results: dict[str, Any] = {}
    code = 0
    for store in stores:
        try:
            # a person's summary names a few versions: no row per version to build for it
            results[store] = runner.status(store, migrations_dir=args.migrations_dir, listing=args.json)
        except DbtoolsError as exc:
            if len(stores) == 1 and not args.json:
                raise
            results[store] = {
                "where": _where(store),
                "error": exc.message,
                "hint": exc.hint,
                "reachable": not isinstance(exc, ConnectionFailed),  # a file or history problem: the server answered
            }
            code = max(code, exc.exit_code)
    if args.json:
        import json

        print(json.dumps(results, indent=2))
    else:
        print_status(results)
    if args.exit_code and any(_needs_attention(r) for r in results.values()):
        code = max(code, 1)
    return code


def _where(store: str) -> str:
    try:
        return runner.where(runner.settings_for(store))
    except DbtoolsError:
        return "-"


def _needs_attention(r: dict[str, Any]) -> bool:
    return "error" not in r and any(r[k] for k in ("pending", "failed", "changed", "missing"))


def print_status(results: dict[str, dict[str, Any]]) -> None:
    """Print `runner.status` results for people: one table row per store, then what needs attention."""
    header = ("store", "where", "current", "applied", "pending", "failed", "changed", "missing", "lock")
    rows = [header]
    for store, r in results.items():
        if "error" in r:
            state = "error" if r.get("reachable") else "unreachable"
            rows.append((store, r.get("where", "-"), state, "-", "-", "-", "-", "-", "-"))
            continue
        current = _label_of(r, r["current"])
        counts = [str(len(r[k])) for k in ("applied", "pending", "failed", "changed", "missing")]
        rows.append((store, r["where"], current, *counts, "held" if r["lock"] else "free"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = [cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        print("  ".join(cells).rstrip())
    for store, r in results.items():
        for line in _details(r):
            print(f"{store}: {line}")


def _labels(r: dict[str, Any]) -> dict[int, str]:
    if "labels" in r:  # runner.status without the listing
        return dict(r["labels"])
    return {m["version"]: m["label"] for m in r["migrations"]}


def _label_of(r: dict[str, Any], version: int | None) -> str:
    """The label of one version (the current one: found from the end, where it usually is), "none" for None."""
    if "labels" in r:
        return str(r["labels"].get(version, "none"))
    for m in reversed(r["migrations"]):
        if m["version"] == version:
            return str(m["label"])
    return "none"


def _details(r: dict[str, Any]) -> list[str]:
    if "error" in r:
        return [f"error: {r['error']}"] + ([f"hint: {r['hint']}"] if r.get("hint") else [])
    if not any(r.get(k) for k in ("adopted", "pending", "unfinished", "changed", "missing", "lock")):
        return []  # nothing needs attention: no labels to look up
    labels = _labels(r)
    lines = [f"applied   {labels[int(v)]}  adopted from {tool}" for v, tool in r.get("adopted", {}).items()]
    failed, out_of_order = set(r["failed"]), set(r["out_of_order"])
    for v in r["pending"]:
        if v in failed:
            continue  # said below, with where it stopped
        lines.append(f"pending   {labels[v]}" + ("  (out of order)" if v in out_of_order else ""))
    lines += [_unfinished(row) for row in r["unfinished"]]
    lines += [f"changed   {labels[v]}  (file edited after it was applied)" for v in r["changed"]]
    lines += [f"missing   {labels[v]}  (applied, file gone)" for v in r["missing"]]
    if r["lock"]:
        lines.append(f"lock      held by {r['lock']}")
    return lines


def _unfinished(row: dict[str, Any]) -> str:
    """One line for a failed, interrupted or running migration: where it stopped, what stayed, the error."""
    done, total, step = row["statements_done"], row["statements_total"], row.get("in_step", 0)
    state = row.get("state", row["status"])
    of = f" of {total}" if total else ""
    if row.get("direction") == "down":
        return _unfinished_rollback(row, state, done, step, of)
    if done:
        kept = f"statements 1-{done}{of} stayed applied" if done > 1 else f"statement 1{of} stayed applied"
    else:
        kept = "nothing before it stayed applied" if step else "nothing of it stayed applied"
    if state == "running":
        where = f"running now, in statement {step}{of}" if step else "running now"
        return f"{'running':<9} {row['label']}: {where}; {kept}"
    if step:
        where = "interrupted in" if state == "interrupted" else "failed in"
        kept = f"{where} statement {step}{of}, which may have partly run (no transaction); {kept}"
    reason = row["error"] or "the run stopped (killed, or its connection or lease was lost)"
    return f"{state:<9} {row['label']}: {kept}; {reason}"


def _unfinished_rollback(row: dict[str, Any], state: str, done: int, step: int, of: str) -> str:
    """One line for a rollback stopped in a down section run without a transaction: neither applied nor
    rolled back (`rollback --resume` finishes it)."""
    where = f"in down step {step}{of}" if step else f"after down step {done}{of}"
    if state == "running":
        return f"{'running':<9} {row['label']}: rollback running now, {where}"
    what = "interrupted" if state == "interrupted" else "failed"
    ran = f"down steps 1-{done} ran" if done > 1 else "down step 1 ran" if done else "no down step finished"
    reason = row["error"] or "the run stopped (killed, or its connection or lease was lost)"
    return f"{state:<9} {row['label']}: rollback {what} {where}; {ran}; {reason}"
