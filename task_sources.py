"""Reading sources safely: the one way files are opened, JSON decoded and TinyDB documents found;
and the one way a result is encoded, as strictly as JSON is read.

Everything here returns raw values, or raises an OSError or a ValueError that
names the place of the problem, never a value (a misconfigured
TASK_CONFIG_MAX_BYTES is a ConfigError at once). Task.run() in task.py turns
those errors into a ConfigError naming the source, then validates the values.
"""

from __future__ import annotations

import json
import os
import re
import stat

from task import MAX_ARRAY_INDEX, ConfigError, SourceError, Stopped, shown
from task_fields import UNENCODABLE, decimal, json_kind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import BinaryIO

__all__ = [
    "config_error_from",
    "decode_json",
    "documents_of_key",
    "encode_json",
    "find_params",
    "read_text_file",
    "read_tinydb",
]

#: The environment variable that sets how large a source file may be.
TASK_CONFIG_MAX_BYTES = "TASK_CONFIG_MAX_BYTES"
#: A source file larger than this is refused unread, unless TASK_CONFIG_MAX_BYTES says otherwise.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def read_text_file(path: str, environ: Mapping[str, str]) -> str:
    """The whole of a regular file, decoded as UTF-8 whatever the locale.

    A FIFO, a device or a directory is refused without blocking or reading, and
    so is a file larger than TASK_CONFIG_MAX_BYTES. Raises OSError or SourceError,
    which Task.run() turns into a ConfigError naming the source.
    """
    max_bytes = _max_bytes(environ)
    # O_NONBLOCK: opening a FIFO that no one writes to returns at once instead of waiting.
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with open(descriptor, "rb") as source_file:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise SourceError(f"not a regular file ({_file_kind(status.st_mode)}), so it was not read")
        if status.st_size > max_bytes:
            raise SourceError(f"larger than {TASK_CONFIG_MAX_BYTES} ({max_bytes} bytes), so it was not read")
        data = _read_at_most(source_file, max_bytes)
    return data.decode("utf-8")


def config_error_from(exc: BaseException, source: str) -> ConfigError:
    """The ConfigError for an error met while reading `source`: the one boundary for foreign errors.

    Raise it `from exc`. It says what went wrong without quoting the source's content.
    """
    return ConfigError(source, [_explain_read_error(exc)])


def _explain_read_error(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (bad byte at offset {exc.start})"
    if isinstance(exc, json.JSONDecodeError):
        if not exc.doc.strip():
            return "empty: expected a JSON object"
        return f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
    return str(exc) if isinstance(exc, SourceError) else type(exc).__name__


def _read_at_most(source_file: BinaryIO, max_bytes: int) -> bytes:
    """The file's bytes, read in chunks (its size may have changed, or be unknown, as in /proc)."""
    chunks: list[bytes] = []
    total = 0
    while chunk := source_file.read(1024 * 1024):
        total += len(chunk)
        if total > max_bytes:
            raise SourceError(f"larger than {TASK_CONFIG_MAX_BYTES} ({max_bytes} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a plain file"


def _max_bytes(environ: Mapping[str, str]) -> int:
    text = environ.get(TASK_CONFIG_MAX_BYTES, "")
    if not text:
        return DEFAULT_MAX_BYTES
    max_bytes = decimal(text, max_digits=18)
    if not max_bytes:
        raise ConfigError(
            TASK_CONFIG_MAX_BYTES, [f"expected a positive number of bytes, got '{shown(text)}'"]
        )
    return max_bytes


def decode_json(text: str | bytes) -> object:
    """Decode JSON that a person or an invoker wrote, strictly.

    A duplicated key is an error too. NaN and Infinity, which are not JSON but
    which Python's parser reads as floats, are left for the parameter they
    are given for to refuse (Field reads only finite numbers), so that the
    error names it. Raises a ValueError naming the place of any problem, never a value:
    SourceError, json.JSONDecodeError or UnicodeDecodeError, each of which
    config_error_from() explains.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return _parse_json(text, _STRICT_DECODER)


def encode_json(result: object) -> str:
    """A result as the strict JSON text it is sent as, or a ValueError saying why it cannot be.

    Refused: what UNENCODABLE covers, keys that collide once encoded (1 and "1"
    both become "1"), and anything else encoding raises (named by its type only:
    its message is the business logic's, unscrubbed).
    """
    try:
        text = json.dumps(result, allow_nan=False)
    except UNENCODABLE as exc:
        raise ValueError(str(exc)) from None
    except Stopped:
        raise
    except BaseException as exc:  # what a result's own methods raise: SystemExit as well as anything
        raise ValueError(f"encoding it raised {type(exc).__name__}") from None
    decode_json(text)  # refuses a duplicated key: what keys that collide became
    return text


def _parse_json(text: str, decoder: json.JSONDecoder) -> object:
    """decoder.decode(text), with the parser's two unhelpful failures turned into errors that say where."""
    try:
        return decoder.decode(text)
    except RecursionError:
        raise SourceError(f"nested too deeply to read ({_deep_place(text)})") from None
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError) or "integer string conversion" not in str(exc):
            raise
        raise SourceError(f"an integer of more than 4,300 digits{_long_integer_place(text)}") from None


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    decoded = dict(pairs)
    if len(decoded) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise SourceError(f"the key '{shown(key)}' appears more than once in one object")
            seen.add(key)
    return decoded


#: What json.load uses, so what TinyDB reads its file with: the last of duplicated keys wins.
_TINYDB_DECODER = json.JSONDecoder()
#: For what people and invokers write; made once, as json.loads() with hooks would make one per call.
_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_object_without_duplicates)


def _long_integer_place(text: str) -> str:
    """Where the first integer of more than 4,300 digits is, skipping strings."""
    for token in re.finditer(r'"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])-?\d{4301}', text):
        if not token.group().startswith('"'):
            return f" at {_place(text, token.start())}"
    return ""


def _deep_place(text: str) -> str:
    """Where JSON arrays and objects first nest 500 deep, skipping strings."""
    depth = 0
    for token in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]', text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > 500:
                return f"more than 500 levels at {_place(text, token.start())}"
        elif bracket in "]}":
            depth -= 1
    return "too many levels"


def _place(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    return f"line {line}, column {column}"


# --------------------------------------------------------------------------
# TinyDB files: {"TABLE": {"DOC_ID": {"task": KEY, "array_index": i, "params": {...}}}}


def read_tinydb(path: str, environ: Mapping[str, str]) -> object:
    """The tables of a TinyDB file, read exactly as TinyDB's JSONStorage reads them.

    That is json.load of the whole file (a duplicated key: the last one wins),
    and None for an empty file. JSONStorage is not called because it opens the
    path itself: a FIFO would block it, and it knows no size limit.
    """
    text = read_text_file(path, environ)
    return _parse_json(text, _TINYDB_DECODER) if text else None


def documents_of_key(tables: object, table: str, key: str) -> dict[str, dict[str, object]]:
    """The documents of `table` whose "task" is `key`, by document id, in file order."""
    if tables is None:
        raise SourceError("the file is empty")
    if not isinstance(tables, dict):
        raise SourceError(f"not a TinyDB file: expected an object of tables, got {json_kind(tables)}")
    documents = tables.get(table)
    if documents is None:
        raise SourceError(f"no table '{shown(table)}' in the file")
    if not isinstance(documents, dict):
        raise SourceError(f"table '{shown(table)}' is not a TinyDB table (an object of documents)")
    return {
        doc_id: document
        for doc_id, document in documents.items()
        if isinstance(document, dict) and document.get("task") == key
    }


def find_params(documents: Mapping[str, Mapping[str, object]], key: str, index: int | None) -> object:
    """The "params" of the one document for this array index (None: the one without an index)."""
    matches = [doc_id for doc_id, document in documents.items() if array_index_of(document) == index]
    wanted = f"key '{shown(key)}' and " + ("no array_index" if index is None else f"array_index {index}")
    if not matches:
        raise SourceError(f"no document with {wanted}")
    if len(matches) > 1:
        ids = ", ".join(shown(doc_id) for doc_id in matches[:10])
        raise SourceError(f"{len(matches)} documents with {wanted} (ids {ids}); expected exactly one")
    return params_of(documents[matches[0]])


def array_index_of(document: Mapping[str, object], largest: int = MAX_ARRAY_INDEX) -> int | str | None:
    """A document's array index; None without one, "invalid" when it is no index from 0 to `largest`
    (by default, to the highest that any engine gives)."""
    if "array_index" not in document:
        return None
    index = document["array_index"]
    # type(), not isinstance(): true == 1, but is no index.
    return index if type(index) is int and 0 <= index <= largest else "invalid"


def params_of(document: Mapping[str, object]) -> object:
    """A document's "params" object, or SourceError saying what is wrong with the document."""
    if "params" not in document:
        raise SourceError('the document has no "params"')
    params = document["params"]
    if not isinstance(params, dict):
        raise SourceError(f'the document\'s "params" must be an object, got {json_kind(params)}')
    return params
