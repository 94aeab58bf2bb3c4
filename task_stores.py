"""References to secret stores and files: the `$secret`, `$ssm` and `$file` kinds, read when the
parameters load, kept for TASK_SECRETS_TTL seconds (files never), refused unless allowed.

Task.validate() in task.py makes one Resolution per run, on the run's first
such reference, and imports this module only then. The clients that ask the
stores (the Lambda extension's HTTP protocol, botocore) live in
task_store_clients. A problem of one reference is a ValueError, which
Parameters.parse lists as a problem of its parameter; a store that cannot
answer is task.StoreUnavailable; a bad setting is a ConfigError naming it.
"""

from __future__ import annotations

import functools
import json
import os
import stat
import time

from task import ConfigError, StoreUnavailable, shown
from task_fields import decimal, json_kind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from task_store_clients import Client

__all__ = [
    "FILE_KEY",
    "SECRET_KEY",
    "SSM_KEY",
    "TASK_SECRETS_TIMEOUT_MS",
    "TASK_SECRETS_TTL",
    "TASK_SECRET_REFS",
    "Reference",
    "Resolution",
    "forget_cached_values",
]

# The environment variables this module reads.
TASK_SECRET_REFS = "TASK_SECRET_REFS"
TASK_SECRETS_TTL = "TASK_SECRETS_TTL"
TASK_SECRETS_TIMEOUT_MS = "TASK_SECRETS_TIMEOUT_MS"

#: The keys of the three kinds: {"$secret": "ID"} (with "key": "K"), {"$ssm": "NAME"}, {"$file": "/PATH"}.
SECRET_KEY = "$secret"
SSM_KEY = "$ssm"
FILE_KEY = "$file"
#: What TASK_SECRET_REFS calls each kind: secret:ID, ssm:NAME, file:PATH.
LISTED_AS = {SECRET_KEY: "secret", SSM_KEY: "ssm", FILE_KEY: "file"}

DEFAULT_TTL_SECONDS = 300  # as the Parameters and Secrets Lambda Extension's own cache
DEFAULT_TIMEOUT_MS = 2000
#: A mounted secret file larger than this is refused unread.
MAX_FILE_BYTES = 64 * 1024
#: The longest id a reference may name: an ARN is at most 2,048 characters.
MAX_ID_LENGTH = 2048
#: How often a store that does not answer is asked within the timeout, and the first pause between.
ATTEMPTS = 3
FIRST_PAUSE_SECONDS = 0.05

_FORMS = {
    SECRET_KEY: '{"$secret": "ID"} or {"$secret": "ID", "key": "K"}',
    SSM_KEY: '{"$ssm": "NAME"}',
    FILE_KEY: '{"$file": "/ABSOLUTE/PATH"}',
}

#: What the stores answered, per process: (kind, id) -> (until when it may serve, by time.monotonic(),
#: text). A process reaches one store for each kind (its settings do not change in a function or a
#: job); the test kit's secrets_extension() forgets them, as each stand-in is another store.
_cached: dict[tuple[str, str], tuple[float, str]] = {}


def forget_cached_values() -> None:
    """Forget every value kept from a secret store, so that the next run asks again."""
    _cached.clear()


class Reference:
    """One reference to a store or file, as its form says: kind, id and, for a secret, a key."""

    __slots__ = ("id", "key", "kind")

    def __init__(self, raw: Mapping[str, object]) -> None:
        """Read the reference's form, or raise ValueError saying what the form must be."""
        kinds = [kind for kind in _FORMS if kind in raw]
        kind = kinds[0] if len(kinds) == 1 else ""
        ident, key = raw.get(kind), raw.get("key")
        keyed = kind == SECRET_KEY and "key" in raw
        if len(raw) != 1 + keyed or not _is_id(ident) or (keyed and not _is_id(key)):
            forms = "; ".join(_FORMS.values())
            raise ValueError(f'a reference must be one of {forms}, or {{"$env": "NAME"}}, and nothing else')
        assert isinstance(ident, str)  # _is_id() said so
        if kind == FILE_KEY and not os.path.isabs(ident):
            raise ValueError(f"$file {shown(ident)}: the path must be absolute")
        #: "$secret", "$ssm" or "$file".
        self.kind = kind
        #: The secret's id (a name or an ARN), the parameter's name, or the file's path: normalised,
        #: so that the file read is the one TASK_SECRET_REFS lists (no "link/.." to elsewhere).
        self.id = os.path.normpath(ident) if kind == FILE_KEY else ident
        #: The key of the JSON object a secret holds, or None for the whole secret.
        self.key = key if isinstance(key, str) else None

    def listed_as(self) -> str:
        """How TASK_SECRET_REFS lists this reference: secret:ID, ssm:NAME, file:PATH (normalised)."""
        return f"{LISTED_AS[self.kind]}:{self.id}"

    def __str__(self) -> str:
        described = f"{self.kind} {shown(self.id, limit=200)}"
        return described if self.key is None else f"{described} key {shown(self.key)}"


def _is_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH and value.isprintable()


class Resolution:
    """One run's reading of its store and file references.

    Each store is asked once per id in a run, so a run never sees two versions
    of one secret; what it answers is kept for TASK_SECRETS_TTL seconds for the
    runs after. All asking in a run shares one TASK_SECRETS_TIMEOUT_MS. With
    resolve=False (--check --no-resolve) references are checked, never read.
    """

    def __init__(self, environ: Mapping[str, str], *, invoker_written: bool, resolve: bool = True) -> None:
        self.environ = environ
        self.invoker_written = invoker_written
        self.resolve = resolve
        self._texts: dict[tuple[str, str], str] = {}  # (kind, id) -> text, for this run
        self._deadline: float | None = None
        self._client: Client | None = None

    def read(self, raw: Mapping[str, object], *, secret_parameter: bool) -> str | None:
        """The text a reference names (for a key, the string at that key), or None when not resolving.

        Raises ValueError for a problem of this reference, StoreUnavailable
        when its store does not answer, ConfigError for a bad setting.
        """
        reference = Reference(raw)
        if self.invoker_written:
            self._check_allowed(reference, secret_parameter)
        if not self.resolve:
            return None
        found = (reference.kind, reference.id)
        if found not in self._texts:
            self._texts[found] = self._text_of(reference)
        text = self._texts[found]
        return text if reference.key is None else _text_at_key(reference, text)

    def _check_allowed(self, reference: Reference, secret_parameter: bool) -> None:
        """What an invoker writes: only for Secret parameters, only what TASK_SECRET_REFS lists."""
        if not secret_parameter:
            raise ValueError(
                f"{reference.kind} references are allowed only for secret parameters in what an invoker sends"
            )
        if reference.listed_as() not in _listed(self.environ.get(TASK_SECRET_REFS, "")):
            raise ValueError(f"{reference} is not allowed: {TASK_SECRET_REFS} does not list it")

    def _text_of(self, reference: Reference) -> str:
        if reference.kind == FILE_KEY:
            return read_secret_file(reference)
        key = (reference.kind, reference.id)
        kept = _cached.get(key)  # kept for the TTL in force when it was read: a warm run reads no setting
        if kept is not None and time.monotonic() < kept[0]:
            return kept[1]
        ttl = self._ttl()
        try:
            text = self._ask(self._store_client(), reference)
        except ValueError as problem:  # a refusal: the client says why, the reference says of what
            raise ValueError(f"{reference}: {problem}") from None
        if ttl:
            _cached[key] = (time.monotonic() + ttl, text)
        return text

    def _store_client(self) -> Client:
        if self._client is None:
            from task_store_clients import client_for

            self._client = client_for(self.environ)
        return self._client

    def _ask(self, client: Client, reference: Reference) -> str:
        """Ask the store, again while it does not answer, until the run's timeout has passed."""
        timeout_ms = self._timeout_ms()
        if self._deadline is None:
            self._deadline = time.monotonic() + timeout_ms / 1000
        why = f"no answer within {timeout_ms} ms ({TASK_SECRETS_TIMEOUT_MS})"
        for attempt in range(ATTEMPTS):
            if attempt:  # a pause before asking again, doubling each time, never past the deadline
                pause = FIRST_PAUSE_SECONDS * 2 ** (attempt - 1)
                time.sleep(max(0.0, min(pause, self._deadline - time.monotonic())))
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                return client.fetch(reference.kind, reference.id, remaining)
            except StoreUnavailable as unavailable:
                why = str(unavailable)
        raise StoreUnavailable(f"{client.store_name(reference.kind)}: {why}; the run may be retried")

    def _ttl(self) -> int:
        text = self.environ.get(TASK_SECRETS_TTL, "")
        ttl = decimal(text, max_digits=18) if text else DEFAULT_TTL_SECONDS
        if ttl is None:
            raise ConfigError(TASK_SECRETS_TTL, [f"expected a whole number of seconds, got '{shown(text)}'"])
        return ttl

    def _timeout_ms(self) -> int:
        text = self.environ.get(TASK_SECRETS_TIMEOUT_MS, "")
        timeout = decimal(text, max_digits=9) if text else DEFAULT_TIMEOUT_MS  # a socket takes no more
        if not timeout:
            expected = "a positive number of milliseconds, at most 999999999"
            raise ConfigError(TASK_SECRETS_TIMEOUT_MS, [f"expected {expected}, got '{shown(text)}'"])
        return timeout


@functools.lru_cache(maxsize=16)  # read per run, parsed once per text: a warm invocation saves ~1 µs
def _listed(refs: str) -> frozenset[str]:
    """What TASK_SECRET_REFS lists, each entry as Reference.listed_as() says it (paths normalised)."""
    listed = set()
    for entry in refs.split(","):
        kind, _, ident = entry.strip().partition(":")
        if kind == LISTED_AS[FILE_KEY] and ident:
            ident = os.path.normpath(ident)
        listed.add(f"{kind}:{ident}")
    return frozenset(listed)


def _text_at_key(reference: Reference, text: str) -> str:
    """The string at the reference's key of the JSON object a secret holds; never quotes the secret."""
    try:
        holder = json.loads(text)
    except (ValueError, RecursionError):
        holder = None
    if not isinstance(holder, dict):
        raise ValueError(f"{reference}: the secret is not a JSON object, so it has no keys")
    if reference.key not in holder:
        raise ValueError(f"{reference}: the secret has no such key")
    value = holder[reference.key]
    if not isinstance(value, str):
        raise ValueError(f"{reference}: the value at the key is not a string but {json_kind(value)}")
    return value


def read_secret_file(reference: Reference) -> str:
    """A mounted secret's text: after symlinks, a regular UTF-8 file of at most 64 KiB, one trailing
    newline removed. Raises ValueError naming the path, never the content."""
    try:
        # O_NONBLOCK: opening a FIFO that no one writes to returns at once instead of waiting.
        descriptor = os.open(reference.id, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise ValueError(f"{reference}: not a regular file, so it was not read")
            with open(descriptor, "rb", closefd=False) as secret_file:
                data = secret_file.read(MAX_FILE_BYTES + 1)
        finally:
            os.close(descriptor)
    except OSError as exc:
        raise ValueError(f"{reference}: {exc.strerror or type(exc).__name__}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"{reference}: larger than {MAX_FILE_BYTES // 1024} KiB, so it was not read")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{reference}: not UTF-8 text") from None
    text = text.removesuffix("\n")
    if not text:
        raise ValueError(f"{reference}: the file is empty")
    return text
