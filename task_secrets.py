"""Keeping secrets out of exceptions: every secret of a run becomes *** in the messages of the
business logic's exceptions, before a log or an invoker sees them.

Task.run() in task.py calls scrubbed() when the business logic fails, and raises
what it returns: the exception itself, scrubbed in place, or, where that cannot
be done, a replacement that keeps its type name, its traceback and its chain.
task_lambda calls as_exception() for what must reach the runtime client as an
Exception. Nothing here raises: a failure to scrub withholds the message.
"""

from __future__ import annotations

import builtins
import json

from task import MASK, ConfigError, Stopped

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, NoReturn

__all__ = ["MIN_SECRET_LENGTH", "as_exception", "scrubbed", "written_forms"]

#: How many exceptions deep a chain (causes, contexts, groups' members) is checked; what is chained
#: beyond is cut off from what is raised (a chain that long is a bug of its own, and walking it would
#: exhaust Python's recursion limit).
MAX_LINKS = 100

#: Shorter secrets are not searched for: "ab" would mask every word that holds it.
MIN_SECRET_LENGTH = 4

#: Exception groups, new in Python 3.11: (BaseExceptionGroup, ExceptionGroup), or None before.
_GROUPS: tuple[Any, Any] | None = (
    (getattr(builtins, "BaseExceptionGroup"), getattr(builtins, "ExceptionGroup"))  # noqa: B009 (mypy's 3.10)
    if hasattr(builtins, "ExceptionGroup")
    else None
)
#: Where Python 3.11 keeps an exception's notes (an attribute mypy's 3.10 target does not know).
_NOTES = "__notes__"

#: The message of a replacement whose original's str() failed or could not be checked.
UNREADABLE = "(its message could not be read)"

#: What an exception's message or traceback is built from besides its args.
_MESSAGE_ATTRIBUTES = (
    (OSError, ("strerror", "filename", "filename2")),
    (SyntaxError, ("msg", "text", "filename")),  # traceback prints the offending line, `text`
    (ImportError, ("msg", "name", "path")),  # str() is `msg`, not args
    (UnicodeError, ("encoding", "reason")),  # str() is built from these, not args
    (ConfigError, ("source", "problems")),  # a subclass with args of its own, which keeps these itself
)


def scrubbed(error: BaseException, secrets: Sequence[str]) -> BaseException:
    """`error` with every written form of each secret replaced by ***, in its message, its notes and
    the exceptions tied to it (cause, context, a group's members): scrubbed in place where Python
    allows, else replaced (see _replacement()). Never raises (but for a signal that stops the run)."""
    forms = written_forms(secrets)
    if not forms:
        return error
    try:
        return _Scrubber(forms).scrub_all(error)
    except Stopped:
        raise
    except BaseException:  # an exception hostile beyond what is foreseen: show nothing of it
        return _replacement(error, UNREADABLE)


def written_forms(secrets: Sequence[str]) -> list[str]:
    """Each secret as a message may hold it, longest first: as it is, as repr() and ascii() show it,
    JSON-escaped, URL-encoded, and as the repr of its UTF-8 bytes."""
    from urllib.parse import quote, quote_plus  # only when a run failed

    forms: set[str] = set()
    for secret in secrets:
        if len(secret) < MIN_SECRET_LENGTH:
            continue
        encodings = (
            secret,
            repr(secret)[1:-1],
            ascii(secret)[1:-1],
            json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=False)[1:-1],
            quote(secret),
            quote(secret, safe=""),
            quote_plus(secret),
            repr(secret.encode("utf-8", "surrogatepass"))[2:-1],
        )
        forms.update(encodings)
    return sorted(forms, key=len, reverse=True)


def as_exception(error: BaseException) -> Exception:
    """`error` as an Exception, for the Lambda runtime client, which lets any other BaseException end
    the process: the error itself, or a stand-in with its type name, message, traceback and chain."""
    if isinstance(error, Exception):
        return error
    message = _text(error)
    stand_in: Exception = _stand_in(type(error), Exception)(UNREADABLE if message is None else message)
    _copy_chain(error, stand_in)
    return stand_in


class _Scrubber:
    """One scrubbing of one failure: each exception of the chain visited once, cycles included."""

    def __init__(self, forms: list[str]) -> None:
        self.forms = forms
        #: id() of each exception seen -> what stands for it now: itself, or its replacement.
        self.done: dict[int, BaseException] = {}
        #: The exceptions seen, kept alive so that no id() in `done` is reused.
        self.seen: list[BaseException] = []

    def scrub_all(self, error: BaseException) -> BaseException:
        result = self.scrub(error, 0)
        self._repoint(result)
        return result

    def scrub(self, error: BaseException, depth: int) -> BaseException:
        if id(error) in self.done:
            return self.done[id(error)]
        self.done[id(error)] = error  # a cycle back to it finds it as it is; _repoint() mends that
        self.seen.append(error)
        if depth > MAX_LINKS:  # what it is chained to is cut off: there is no end of it to check
            result = _replacement(error, self.message(error))
        else:
            in_place = self._in_place_or_none(error, depth)
            result = self._replaced(error, depth) if in_place is None else in_place
        self.done[id(error)] = result
        return result

    def _in_place_or_none(self, error: BaseException, depth: int) -> BaseException | None:
        try:
            return self._in_place(error, depth)
        except Stopped:
            raise
        except BaseException:  # read-only args, a frozen dataclass, a property that raises
            return None

    def _in_place(self, error: BaseException, depth: int) -> BaseException | None:
        """Scrub `error` itself; None when it cannot be done, or when its str() still shows a secret."""
        if _is_group(error):
            return None  # its message and its members are read-only: always rebuilt
        if isinstance(error, ConfigError) and _built_by_config_error(error):  # the text as given
            source, problems = error.args
            ConfigError.__init__(error, self.text(source), [self.text(problem) for problem in problems])
        else:
            self._set(error, "args", self.value(error.args))
            for kind, attributes in _MESSAGE_ATTRIBUTES:
                if isinstance(error, kind):
                    for attribute in attributes:
                        self._set(error, attribute, self.value(getattr(error, attribute, None)))
        if isinstance(error, SystemExit):  # Python prints `code` when a process ends with it
            self._set(error, "code", self.value(error.code))
        notes = getattr(error, _NOTES, None)
        if isinstance(notes, list):
            notes[:] = self.notes(notes)
        elif notes is not None:  # a tuple, or what no note can be
            self._set(error, _NOTES, self.notes(notes))
        for link in ("__cause__", "__context__"):
            linked = getattr(error, link)
            if linked is not None:
                self._set(error, link, self.scrub(linked, depth + 1))
        text = _text(error)
        if text is None or self.holds_secret(text):
            return None
        return error

    def _replaced(self, error: BaseException, depth: int) -> BaseException:
        members = None
        message = self.message(error)
        if _is_group(error):
            group_message = _text(getattr(error, "message", None))
            message = UNREADABLE if group_message is None else self.text(group_message)
            members = [self.scrub(member, depth + 1) for member in getattr(error, "exceptions", ())]
        replacement = _replacement(error, message, members=members)
        if isinstance(error, SystemExit) and isinstance(replacement, SystemExit):
            replacement.code = self.value(error.code)  # else None, which would end a process with 0
        for link in ("__cause__", "__context__"):
            linked = getattr(error, link)
            if linked is not None:
                setattr(replacement, link, self.scrub(linked, depth + 1))
        replacement.__suppress_context__ = error.__suppress_context__
        notes = getattr(error, _NOTES, None)
        if notes is not None:
            setattr(replacement, _NOTES, self.notes(notes))
        return replacement

    def _repoint(self, top: BaseException) -> None:
        """Where a cycle led back to an exception that was replaced afterwards, link its replacement."""
        pending: list[BaseException] = [top]
        visited: set[int] = set()
        while pending:
            error = pending.pop()
            if id(error) in visited:
                continue
            visited.add(id(error))
            for link in ("__cause__", "__context__"):
                linked = getattr(error, link)
                if linked is None:
                    continue
                current = self.done.get(id(linked), linked)
                if current is not linked:
                    setattr(error, link, current)
                pending.append(current)
            if _is_group(error):
                pending.extend(getattr(error, "exceptions", ()))

    def message(self, error: BaseException) -> str:
        text = _text(error)
        return UNREADABLE if text is None else self.text(text)

    def holds_secret(self, text: str) -> bool:
        return any(form in text for form in self.forms)

    def text(self, text: str) -> str:
        for form in self.forms:
            text = text.replace(form, MASK)
        return text

    def value(self, value: Any) -> Any:
        """`value`, or its text scrubbed where that holds a secret; a tuple item by item (args, problems)."""
        if value is None or isinstance(value, (int, float)):
            return value
        if isinstance(value, tuple):
            items = tuple(self.value(item) for item in value)
            return value if all(new is old for new, old in zip(items, value, strict=True)) else items
        text = value if isinstance(value, str) else _text(value)
        if text is None:
            return UNREADABLE
        return self.text(text) if self.holds_secret(text) else value

    def notes(self, notes: object) -> list[str]:
        if not isinstance(notes, (list, tuple)):
            return [UNREADABLE]
        return [self.text(note) if isinstance(note, str) else UNREADABLE for note in notes]

    @staticmethod
    def _set(error: BaseException, attribute: str, value: object) -> None:
        """Set an attribute only where it changes: setting may fail (a frozen dataclass)."""
        if getattr(error, attribute, None) is not value:
            setattr(error, attribute, value)


def _built_by_config_error(error: ConfigError) -> bool:
    """Whether its args are (source, problems), as ConfigError.__init__ keeps them (a subclass may differ)."""
    return len(error.args) == 2 and isinstance(error.args[0], str) and isinstance(error.args[1], tuple)


def _is_group(error: BaseException) -> bool:
    return _GROUPS is not None and isinstance(error, _GROUPS[0])


def _text(value: object) -> str | None:
    """str(value), or None for a value whose str() fails (whatever it raises) or is no string."""
    try:
        text = str(value)
    except Stopped:
        raise
    except BaseException:  # a __str__ may raise SystemExit as well as anything else
        return None
    return text if type(text) is str else None


def _replacement(
    error: BaseException,
    message: str,
    *,
    members: list[BaseException] | None = None,
) -> BaseException:
    """A new exception with `error`'s type name, traceback and notes' place, and `message` as its str():
    an instance of a subclass of its class where Python allows that, else a stand-in."""
    cls = type(error)
    try:
        replacement = _instance_of_subclass(cls, message, members)
    except Stopped:
        raise
    except BaseException:  # a class that refuses subclasses or a bare instance, a frozen dataclass
        replacement = _stand_in_instance(error, message, members)
    replacement.__traceback__ = error.__traceback__
    return replacement


def _instance_of_subclass(
    cls: type[BaseException], message: str, members: list[BaseException] | None
) -> BaseException:
    kind = _subclass_showing_args(cls)
    if members is not None:
        return kind(message, members)
    instance = kind.__new__(kind)
    instance.args = (message,)
    if _text(instance) != message:  # its class builds str() some other way still
        raise TypeError("the replacement does not show its message")
    return instance


def _subclass_showing_args(cls: type[BaseException]) -> type[BaseException]:
    """A subclass of cls with cls's name whose str() and repr() come from args alone (or, for a group,
    its message and members), not from what the original keeps elsewhere, and that looks up no
    attribute the original's __getattr__ would have to find (a replacement has only what it is given)."""
    shown_by = _GROUPS[0] if _GROUPS is not None and issubclass(cls, _GROUPS[0]) else BaseException
    body = {
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__str__": shown_by.__str__,
        "__repr__": shown_by.__repr__,
        "__init__": _no_init,
        "__getattribute__": object.__getattribute__,
        "__getattr__": _no_attribute,
    }
    return type(cls.__name__, (cls,), body)


def _no_init(self: BaseException, *args: object) -> None:
    """The replacement's args are set after it is made; its original's __init__ may want others."""


def _no_attribute(self: BaseException, name: str) -> NoReturn:
    raise AttributeError(name)


def _stand_in_instance(
    error: BaseException, message: str, members: list[BaseException] | None
) -> BaseException:
    cls = type(error)
    stand_in: BaseException
    if members is not None and _GROUPS is not None:
        base_group, group = _GROUPS
        every_one_an_exception = all(isinstance(member, Exception) for member in members)
        stand_in = _stand_in(cls, group if every_one_an_exception else base_group)(message, members)
    else:
        stand_in = _stand_in(cls, Exception if isinstance(error, Exception) else BaseException)(message)
    return stand_in


def _stand_in(cls: type[BaseException], base: type[BaseException]) -> type[Any]:
    """A class deriving from `base` alone, named as `cls` is: what a log or Lambda shows as errorType."""
    module = cls.__module__ if isinstance(cls.__module__, str) else None
    return type(cls.__name__, (base,), {"__module__": module, "__qualname__": cls.__qualname__})


def _copy_chain(source: BaseException, target: BaseException) -> None:
    target.__traceback__ = source.__traceback__
    target.__cause__ = source.__cause__
    target.__context__ = source.__context__
    target.__suppress_context__ = source.__suppress_context__
    notes = getattr(source, _NOTES, None)
    if isinstance(notes, list):
        setattr(target, _NOTES, notes)
