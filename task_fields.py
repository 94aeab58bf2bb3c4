"""How one declared parameter reads a value: its kind, JSON's strict types, text from the environment, limits.

Parameters in task.py builds one Field per annotation and asks it to read
each raw value; nothing here knows about sources, references or secrets'
masking (a Secret field reads a string, which Parameters then wraps).
json_kind() and UNENCODABLE, which name JSON's kinds and what it cannot
hold, are shared with the modules that read and answer JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["REQUIRED", "UNENCODABLE", "Field", "between", "decimal", "json_kind"]

#: Marks a parameter declared without a default.
REQUIRED = object()

#: Each kind a parameter may be declared as: what a message calls it, and the one JSON type that gives it.
KINDS: dict[str, tuple[str, type]] = {
    "str": ("a string", str),
    "int": ("an integer", int),
    "float": ("a number", float),
    "bool": ("a boolean", bool),
    "Secret": ("a string (secret)", str),
}

_BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def between(low: float, high: float, *, default: object = None) -> Any:
    """Limit an int or float parameter, where its default would go::

        port: int = between(1, 65535, default=5432)

    Without a default the parameter is required (or, if optional, None). Typed
    as Any, like dataclasses.field(), so that the declaration type-checks.
    """
    return _Between(low, high, default)


class _Between:
    """What between() declares, read once by Parameters when the class is defined."""

    __slots__ = ("default", "high", "low")

    def __init__(self, low: float, high: float, default: object) -> None:
        self.low = low
        self.high = high
        self.default = default


class Field:
    """One declared parameter: its kind, whether it may be null, its limits and its default."""

    def __init__(self, owner: str, name: str, annotation: object, declared: object) -> None:
        #: As declared, so that a subclass can give the field a new default.
        self.annotation = annotation
        self.kind, self.optional = _parse_annotation(owner, name, annotation)
        self.noun, self.json_type = KINDS[self.kind]
        self.limits: tuple[float, float] | None = None
        if isinstance(declared, _Between):
            if self.kind not in ("int", "float"):
                raise TypeError(f"{owner}.{name}: between() applies to int and float parameters only")
            self.limits = (declared.low, declared.high)
            declared = REQUIRED if declared.default is None else declared.default
        self.required = declared is REQUIRED and not self.optional
        self.default: object = None
        if declared is not REQUIRED:
            try:
                self.default = self.from_json(declared)
            except ValueError as exc:
                raise TypeError(f"{owner}.{name}: the default is not valid: {exc}") from None

    def with_default(self, default: object) -> object:
        """What to declare for this field again with a new default: its limits stay."""
        if self.limits is None or isinstance(default, _Between):
            return default
        return between(*self.limits, default=default)

    def expected(self) -> str:
        """What a valid value is, as a message says it: "an integer from 1 to 65535"."""
        expected = self.noun
        if self.limits is not None:
            expected += f" from {self.limits[0]} to {self.limits[1]}"
        return f"{expected} or null" if self.optional else expected

    def from_json(self, value: object) -> object:
        """Read a value decoded from JSON; raise ValueError saying why it is not valid.

        JSON types are strict: true is not an integer, 5432.0 and "5432" are not
        integers, null is only for optional fields; an integer is a valid float.
        """
        if value is None and self.optional:
            return None
        if self.kind == "float" and type(value) is int:
            try:
                value = float(value)
            except OverflowError:
                raise ValueError(f"expected {self.expected()}, got an integer too large for one") from None
        if type(value) is not self.json_type:  # type(), not isinstance(): True is an int subclass
            raise ValueError(f"expected {self.expected()}, got {json_kind(value)}")
        return self._checked(value)

    def from_text(self, text: str) -> object:
        """Read text from the environment by this field's kind; raise ValueError saying why not."""
        value: object = text
        if self.kind == "int":
            magnitude = decimal(text[1:] if text[:1] in ("+", "-") else text, max_digits=4300)
            if magnitude is None:
                raise ValueError(f"expected {self.expected()} (an optional sign and decimal digits)")
            value = -magnitude if text.startswith("-") else magnitude
        elif self.kind == "float":
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"expected {self.expected()}") from None
        elif self.kind == "bool":
            value = _BOOLEAN_WORDS.get(text.lower())
            if value is None:
                raise ValueError(f"expected {self.expected()} (true/false, 1/0 or yes/no)")
        return self._checked(value)

    def _checked(self, value: Any) -> object:
        """Rules every value obeys whatever its source: valid Unicode, finite, within limits."""
        if isinstance(value, str) and not value.isascii() and not _is_unicode_text(value):
            raise ValueError(f"expected {self.expected()}, got text that is not valid Unicode")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"expected {self.expected()}, got a number that is not finite")
        if self.limits is not None and not self.limits[0] <= value <= self.limits[1]:
            raise ValueError(f"expected {self.expected()}")
        return value


def decimal(text: str, *, max_digits: int) -> int | None:
    """The number that text spells in ASCII decimal digits and nothing else, or None.

    int() takes more (spaces, underscores, other scripts' digits) and fails on
    more than 4,300 digits; a source's text gets exactly this.
    """
    if text.isascii() and text.isdigit() and len(text) <= max_digits:
        return int(text)
    return None


#: What json.dumps(allow_nan=False) raises for what JSON cannot hold: an unknown type or a key
#: that is not text (TypeError), NaN, an infinity, a cycle or a huge int (ValueError), deep nesting.
UNENCODABLE = (TypeError, ValueError, RecursionError)


def json_kind(value: object) -> str:
    """Name the kind of a decoded JSON value, never the value itself."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float) and not math.isfinite(value):  # NaN, Infinity, or 1e999
        return "a number that is not finite"
    if isinstance(value, float):
        return "a number with a fraction or exponent"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


def _is_unicode_text(text: str) -> bool:
    """False for a string holding a lone surrogate, which no UTF-8 encoder accepts."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse_annotation(owner: str, name: str, annotation: object) -> tuple[str, bool]:
    """Read `int`, `Secret`, `str | None` and the like, written as objects or as strings."""
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    parts = [part.strip().rpartition(".")[2] for part in text.split("|")]
    kinds = [part for part in parts if part != "None"]
    if len(kinds) != 1 or kinds[0] not in KINDS:
        raise TypeError(
            f"{owner}.{name}: unsupported annotation {text!r}; "
            f"use one of {', '.join(KINDS)}, optionally with '| None'"
        )
    return kinds[0], "None" in parts
