"""Reading user-supplied files safely: every problem is a one-line ``SkvError`` naming the
file, never a traceback, a hang or an unbounded allocation.

* only regular files are read (a FIFO or a device would block or never end);
* a file is at most :data:`MAX_JSON_BYTES`; JSON nesting and integer sizes are bounded;
* the parsed document is validated against a JSON schema (``model.inputs.schemas``) with
  the well-kept ``jsonschema`` library before any field is used; the first violation is
  reported with its JSON path.
"""

from __future__ import annotations

import json
import os
import stat

from model.errors import SkvError

MAX_JSON_BYTES = 16 << 20
MAX_DEPTH = 64


def show(name: object) -> str:
    """A file or symbol name as one printable line (control characters escaped)."""
    text = str(name)
    if text.isprintable():
        return text
    return text.encode("unicode_escape", "backslashreplace").decode("ascii")


def read_regular(path: str, limit: int, mode: str = "rb"):
    """The bytes (or text) of a regular file of at most ``limit`` bytes."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise SkvError(f"{show(path)}: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise SkvError(f"{show(path)}: not a regular file")
    if st.st_size > limit:
        raise SkvError(f"{show(path)}: {st.st_size} bytes, more than the {limit} this input "
                       "may have")
    try:
        with open(path, mode) as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise SkvError(f"{show(path)}: {e.strerror or e}") from None
    if len(data) > limit:
        raise SkvError(f"{show(path)}: more than the {limit} bytes this input may have")
    return data


def _depth(doc, limit: int) -> bool:
    stack = [(doc, 1)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            return False
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return True


def parse_json(text: bytes | str, where: str):
    """Parse JSON text; errors (syntax, nesting, oversized numbers) as one line."""
    try:
        doc = json.loads(text)
    except RecursionError:
        raise SkvError(f"{where}: JSON nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SkvError(f"{where}: not JSON ({show(e)})") from None
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise SkvError(f"{where}: not acceptable JSON ({show(e)})") from None
    if not _depth(doc, MAX_DEPTH):
        raise SkvError(f"{where}: JSON nested deeper than {MAX_DEPTH} levels")
    return doc


def _path(err) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)


def validate(doc, schema: dict, where: str) -> None:
    """Raise a one-line ``SkvError`` for the first way ``doc`` breaks ``schema``."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    err = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if err is not None:
        msg = err.message if len(err.message) <= 200 else err.message[:197] + "..."
        raise SkvError(f"{where}: {_path(err)}: {show(msg)}")


def read_json_object(path: str, what: str = "a JSON object", schema: dict | None = None) -> dict:
    """A JSON file holding one object, checked against ``schema`` when given."""
    where = show(path)
    doc = parse_json(read_regular(path, MAX_JSON_BYTES), where)
    if not isinstance(doc, dict):
        raise SkvError(f"{where}: expected {what}")
    if schema is not None:
        validate(doc, schema, where)
    return doc


def write_text(path: str, text: str) -> None:
    """Write an output file; an unwritable path is a one-line ``SkvError``."""
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise SkvError(f"{show(path)}: cannot write: {e.strerror or e}") from None


def write_json(path: str, doc) -> None:
    write_text(path, json.dumps(doc, indent=1) + "\n")


__all__ = ["write_text", "write_json", "read_json_object", "read_regular", "parse_json", "validate", "show",
           "MAX_JSON_BYTES"]
