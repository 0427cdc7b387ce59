"""``-f json``: one JSON document on standard output, also when the command fails.

The shapes are documented, with an example each, in docs/json-output.md (a test checks the real
output against those examples). On an error the document is :func:`error_document` and the
command still prints its one-line error on stderr and exits with the error's code:
``run_command`` does that when the error is re-raised after :func:`emit_error`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ..errors import ImageListError, InternalError
from ._common import _database_error, write_output

__all__ = ["dump_json", "emit_error", "error_document", "json_text"]


def json_text(document: Any) -> str:
    """Sorted keys, indent 4, UTF-8 as is, one trailing newline (as the vmcatcher formats)."""
    return json.dumps(document, sort_keys=True, indent=4, ensure_ascii=False) + "\n"


def dump_json(document: Any) -> None:
    """Write ``document`` to standard output (as UTF-8 bytes where stdout has a buffer)."""
    text = json_text(document)
    if hasattr(sys.stdout, "buffer"):
        write_output(None, text)
    else:  # a text stream (contextlib.redirect_stdout)
        sys.stdout.write(text)
        sys.stdout.flush()


def error_document(exc: ImageListError) -> dict[str, Any]:
    """``{"ok": false, "error": <the one-line message>, "exit_code": <code>}``."""
    return {"ok": False, "error": str(exc), "exit_code": exc.exit_code}


def emit_error(exc: Exception) -> None:
    """Write the error document; the caller re-raises ``exc`` for the one line and the code.

    An error that is not an :class:`ImageListError` gets the code ``run_command`` gives it: 36
    for a database error, 70 (internal error) for anything else.
    """
    if not isinstance(exc, ImageListError):
        database = _database_error(exc)
        if database is not None:
            exc = database
        else:
            text = " ".join(str(exc).split())
            exc = InternalError(f"internal error: {type(exc).__name__}: {text}")
    dump_json(error_document(exc))
