"""What numeric settings and options accept, parsed in one place with one message shape.

Environment variables, URL options and command-line numbers all go through these kinds, so `nan`,
`inf`, `1e308`, `0x10`, `-1`, `²` or a value too long to print are refused where they enter, with
one line naming the variable or option and what it accepts, never later as a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable

TYPE_CHECKING = False  # typing's own constant, without importing typing (issue 18: off a run's path)
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from dbtools.records import NamedTuple

# ASCII digits only: str.isdigit() accepts '²' and other digits int() refuses or reads differently
# and no more digits than any range here needs (int() of 5,000 digits raises its own ValueError)
# compiled on first use (by `re`), not at import: a run without a numeric option never needs them
_WHOLE = r"[0-9]{1,30}"
_DECIMAL = r"[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30}"
SHOWN = 40  # characters of a bad value repeated in a message


class BadValue(ValueError):
    """A value a kind refuses; `str()` says what was given and what is accepted."""


def shown(raw: str) -> str:
    """A value as quoted in a message: repr, cut to a readable length."""
    return repr(raw if len(raw) <= SHOWN else raw[:SHOWN] + "...")


class Number(NamedTuple):
    """A non-negative number within [minimum, maximum]; `whole` refuses fractions; `unit` names it."""

    minimum: float
    maximum: float
    whole: bool = False
    unit: str = ""

    def describe(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        unit = f" of {self.unit}" if self.unit else ""
        return f"{kind}{unit} from {_plain(self.minimum)} to {_plain(self.maximum)}"

    def parse(self, raw: str) -> float:
        """The value of `raw` (surrounding spaces ignored); BadValue when it is not one this kind accepts."""
        text = raw.strip()
        pattern = _WHOLE if self.whole else _DECIMAL
        if not re.fullmatch(pattern, text):
            raise BadValue(f"{shown(raw)} is not {self.describe()}")
        value = int(text) if self.whole else float(text)
        if not self.minimum <= value <= self.maximum:
            raise BadValue(f"{shown(raw)} is out of range: use {self.describe()}")
        return value


class Duration(NamedTuple):
    """A duration with a unit suffix the server reads itself (PostgreSQL: `5s`, `500ms`, `2min`),
    checked here so that a typo fails before connecting; kept as text for the server."""

    units: dict[str, float]  # suffix -> milliseconds
    default_unit: str  # meaning of a bare number
    maximum_ms: float

    def describe(self) -> str:
        return (
            f"a duration such as 5s, 500ms or 2min (units {', '.join(self.units)}; a bare number is "
            f"{self.default_unit}; 0 turns it off)"
        )

    def parse(self, raw: str) -> str:
        text = raw.strip()
        match = re.fullmatch(r"([0-9]{1,30}(?:\.[0-9]{1,30})?)\s*([a-z]*)", text)
        if not match or (match[2] and match[2] not in self.units):
            raise BadValue(f"{shown(raw)} is not {self.describe()}")
        ms = float(match[1]) * self.units[match[2] or self.default_unit]
        if ms > self.maximum_ms:
            raise BadValue(f"{shown(raw)} is too long: at most {_plain(self.maximum_ms / 1000)} s")
        return text


Kind = Number | Duration


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# Shared kinds
PORT = Number(1, 65535, whole=True)
SECONDS_TO_WAIT = Number(0, 86400, unit="seconds")  # --lock-timeout: 0 tries once
LEASE = Number(0.3, 86400, unit="seconds")  # lock TTLs and leases: renewed every third of it
POSTGRES_DURATION = Duration(
    units={"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000},
    default_unit="ms",
    maximum_ms=2_147_483_647,  # PostgreSQL keeps these as int milliseconds
)


def argument(kind: Number) -> Callable[[str], float]:
    """An argparse `type=` for `kind`: argparse turns its refusal into one usage-error line."""

    def parse(raw: str) -> float:
        try:
            return kind.parse(raw)
        except BadValue as exc:
            import argparse  # only a refusal needs it (a plain run reads its command line without argparse)

            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = kind.describe()  # argparse names the type in some messages
    parse.kind = kind  # type: ignore[attr-defined]  # what it accepts, for tests walking the options
    return parse
