"""dbtools.records.NamedTuple makes the class typing.NamedTuple makes (issue 18: typing stays off a run's path)."""

from __future__ import annotations

import typing
from datetime import datetime

import pytest

from dbtools import records


def _define(base: typing.Any) -> type:
    class Row(base):  # type: ignore[misc, valid-type]
        """A row."""

        version: int
        name: str
        when: datetime | None = None
        done: int = 0

        @property
        def label(self) -> str:
            return f"{self.version:03d}_{self.name}"

        def values(self) -> tuple[typing.Any, ...]:
            return tuple(self)

    return Row


def test_a_record_is_the_class_typing_makes() -> None:
    mine, theirs = _define(records.NamedTuple), _define(typing.NamedTuple)
    assert mine._fields == theirs._fields
    assert mine._field_defaults == theirs._field_defaults
    assert mine.__doc__ == theirs.__doc__ and mine.__module__ == theirs.__module__
    assert mine.__qualname__ == theirs.__qualname__ and mine.__name__ == theirs.__name__
    assert mine.__mro__[1:] == theirs.__mro__[1:] == (tuple, object)
    a, b = mine(1, "a"), theirs(1, "a")
    assert a == b and repr(a) == repr(b) and hash(a) == hash(b)
    assert a.label == b.label == "001_a" and a.values() == b.values()
    assert a._replace(done=2) == b._replace(done=2) and a._asdict() == b._asdict()
    assert mine._make((1, "a", None, 3)) == theirs._make((1, "a", None, 3))
    assert mine(version=2, name="b", done=1) == theirs(version=2, name="b", done=1)
    with pytest.raises(TypeError):
        mine()
    assert set(vars(mine)) == set(vars(theirs))


def test_the_same_refusals_as_typing() -> None:
    for base in (records.NamedTuple, typing.NamedTuple):
        with pytest.raises(TypeError, match="Non-default namedtuple field b cannot follow default field a"):

            class Bad(base):  # type: ignore[misc, valid-type]
                a: int = 0
                b: int

        with pytest.raises(AttributeError, match="Cannot overwrite NamedTuple attribute _replace"):

            class Worse(base):  # type: ignore[misc, valid-type]
                a: int

                def _replace(self) -> None: ...
