"""Keeping secrets out of exceptions: every secret of a run becomes *** in the messages of the
business logic's exceptions, before a log or an invoker sees them.

Task.run() in task.py calls scrub_secrets() when the business logic fails; the
exceptions keep their types, so errorType stays the original's.
"""

from __future__ import annotations

import json

from task import MASK, ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["scrub_secrets"]


def scrub_secrets(error: BaseException, secrets: Sequence[str]) -> None:
    """Replace every secret in the messages of error and the exceptions tied to it by ***.

    The exceptions keep their types, so a log or an invoker still sees what failed.
    """
    forms = _written_forms(secrets)
    pending: list[BaseException | None] = [error]
    seen: set[int] = set()
    while pending and forms:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConfigError) and _built_by_config_error(current):  # the text as given
            source, problems = current.args
            ConfigError.__init__(current, _scrubbed(source, forms), [_scrubbed(p, forms) for p in problems])
        else:
            current.args = tuple(_scrubbed(arg, forms) for arg in current.args)
            _scrub_attributes(current, forms)
        notes = getattr(current, "__notes__", None)
        if isinstance(notes, list):
            notes[:] = [_scrubbed(note, forms) for note in notes]
        if _scrubbed(_text(current), forms) != _text(current):
            _mask_message(current, forms)
        pending += [current.__cause__, current.__context__, *getattr(current, "exceptions", ())]


def _built_by_config_error(error: ConfigError) -> bool:
    """Whether its args are (source, problems), as ConfigError.__init__ keeps them (a subclass may differ)."""
    return len(error.args) == 2 and isinstance(error.args[1], tuple)


#: What an exception's message or traceback is built from besides its args.
_MESSAGE_ATTRIBUTES = (
    (OSError, ("strerror", "filename", "filename2")),
    (SyntaxError, ("msg", "text", "filename")),  # traceback prints the offending line, `text`
    (ConfigError, ("source", "problems")),  # a subclass with args of its own, which keeps these itself
)


def _scrub_attributes(error: BaseException, forms: Sequence[str]) -> None:
    for kind, attributes in _MESSAGE_ATTRIBUTES:
        if isinstance(error, kind):
            for attribute in attributes:
                value = getattr(error, attribute, None)
                if isinstance(value, str):
                    setattr(error, attribute, _scrubbed(value, forms))
                elif isinstance(value, tuple):  # a ConfigError's problems
                    setattr(error, attribute, tuple(_scrubbed(item, forms) for item in value))


def _written_forms(secrets: Sequence[str]) -> list[str]:
    """Each secret as it may appear in a message: as is, as repr() and JSON escape it; longest first."""
    forms = {form for secret in secrets for form in (secret, repr(secret)[1:-1], json.dumps(secret)[1:-1])}
    return sorted(forms, key=len, reverse=True)


def _scrubbed(value: Any, forms: Sequence[str]) -> Any:
    """Value, or its text with every secret replaced by *** where it holds one."""
    text = value if isinstance(value, str) else _text(value)
    if not any(form in text for form in forms):
        return value
    for form in forms:
        text = text.replace(form, MASK)
    return text


def _text(value: object) -> str:
    """str(value), or "" for a value whose str() fails: scrubbing never raises an error of its own."""
    try:
        return str(value)
    except Exception:
        return ""


def _mask_message(error: BaseException, forms: Sequence[str]) -> None:
    """For an exception whose message is built from more than its args (a subprocess's command,
    say): give it a subclass of the same name whose str() is the scrubbed message."""
    cls = type(error)
    message = _scrubbed(_text(error), forms)
    attributes = {
        "__str__": lambda self: message,
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
    }
    try:
        error.__class__ = type(cls.__name__, (cls,), attributes)
    except TypeError:  # a built-in layout that refuses a new class: keep the scrubbed text at least
        error.args = (message,)
