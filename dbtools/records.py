"""`NamedTuple` for the records a run makes, without importing typing (issue 18: typing was a fifth of what
dbtools' own imports cost a no-op run, and psycopg2 does not import it).

Modules write `class Row(NamedTuple):` as usual; the type checker sees typing's NamedTuple:

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple
    else:
        from dbtools.records import NamedTuple

At run time the class is `collections.namedtuple` of its annotated fields (in order, with their defaults),
with the class body's methods, properties and docstring, as typing makes it; annotations stay as written
(typing would check each one, and compile each string). tests/unit/test_records.py holds it to typing's.
"""

from __future__ import annotations

import collections

# what typing refuses in a NamedTuple body, and what it does not copy onto the class
_PROHIBITED = frozenset(
    {"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults", "_make", "_replace",
     "_asdict", "_source"}
)  # fmt: skip
_SPECIAL = frozenset({"__module__", "__name__", "__annotations__"})


class _Maker(type):
    def __new__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, object]) -> type:
        if namespace.get("_root"):  # the stand-in base class itself
            return super().__new__(cls, name, bases, namespace)
        fields = dict(namespace.get("__annotations__", {}))  # type: ignore[call-overload]
        defaulted: list[str] = []
        for field in fields:  # as typing checks them
            if field in namespace:
                defaulted.append(field)
            elif defaulted:
                plural = "s" if len(defaulted) > 1 else ""
                raise TypeError(f"Non-default namedtuple field {field} cannot follow default field{plural} "
                                f"{', '.join(defaulted)}")  # fmt: skip
        defaults = tuple(namespace[field] for field in defaulted)
        made: type = collections.namedtuple(name, tuple(fields), defaults=defaults, module=str(namespace["__module__"]))  # type: ignore[misc]
        made.__annotations__ = made.__new__.__annotations__ = fields
        for key, value in namespace.items():
            if key in _PROHIBITED:
                raise AttributeError("Cannot overwrite NamedTuple attribute " + key)
            if key not in _SPECIAL and key not in fields:
                setattr(made, key, value)
        return made


class _Record(metaclass=_Maker):
    _root = True


def NamedTuple(typename: str, fields: object = None, /, **kwargs: object) -> type:
    """Only the class syntax is offered (`class Row(NamedTuple): ...`)."""
    raise TypeError("dbtools.records.NamedTuple: use the class syntax")


NamedTuple.__mro_entries__ = lambda bases: (_Record,)  # type: ignore[attr-defined]
