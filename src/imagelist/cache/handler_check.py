"""Check the event command (``-x``, ``VMCATCHER_CACHE_EVENT``) before anything is downloaded.

The command runs as ``/bin/sh -c CMD`` (as vmcatcher 0.6), so it may be any shell text. When it
is a *plain command* (its first word, after ``NAME=value`` assignments, is a word without
quoting tricks, variables, globs or shell syntax, and not a shell keyword or builtin), that
word is resolved as the shell will: a word with a ``/`` is a path (relative to the current
directory), any other is looked up on ``PATH``. It must be a regular file we may execute. A
command that is not plain (``if ...; then ...``, ``$HANDLER``, ``cd x && ./h``) is left to the
shell: only ``/bin/sh`` is checked. A typo in the handler's path is then one line and exit 78
before the run, instead of every event failing.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigurationError

__all__ = ["SHELL", "check_handler_command", "first_command_word"]

SHELL = "/bin/sh"
#: Shell reserved words and POSIX special/regular builtins: not files, nothing to check.
# fmt: off
_SHELL_WORDS = frozenset((
    "!", "{", "}", "[[", "]]", "case", "do", "done", "elif", "else", "esac", "fi", "for",
    "function", "if", "in", "select", "then", "time", "until", "while",
    ".", ":", "[", "alias", "bg", "break", "cd", "command", "continue", "echo", "eval", "exec",
    "exit", "export", "false", "fc", "fg", "getopts", "hash", "jobs", "kill", "local", "printf",
    "pwd", "read", "readonly", "return", "set", "shift", "test", "times", "trap", "true", "type",
    "ulimit", "umask", "unalias", "unset", "wait",
))
# fmt: on
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=\S*")
_PLAIN = re.compile(r"[A-Za-z0-9_./+,:@%-]+")


def first_command_word(command: str) -> str | None:
    """The program a plain command runs, or None when the shell must interpret it."""
    try:
        lexer = shlex.shlex(command, posix=False, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:
        return None
    while words and _ASSIGNMENT.fullmatch(words[0]) and "$" not in words[0]:
        words.pop(0)
    if not words:
        return None
    word = words[0]
    if word in _SHELL_WORDS or not _PLAIN.fullmatch(word) or word.startswith("-"):
        return None
    return word


def _problem(path: Path) -> str | None:
    if not path.exists():
        return "does not exist"
    if not path.is_file():
        return "is not a regular file"
    if not os.access(path, os.X_OK):
        return "is not executable"
    return None


def check_handler_command(command: str, environ: Mapping[str, str], *, source: str = "-x") -> None:
    """Raise ConfigurationError (exit 78) when ``command`` surely cannot run."""
    problem = _problem(Path(SHELL))
    if problem is not None:
        raise ConfigurationError(f"the shell {SHELL} that runs the event command {problem}")
    word = first_command_word(command)
    if word is None:
        return
    if "/" in word:
        problem = _problem(Path(word))
        if problem is not None:
            raise ConfigurationError(f"event handler {word} ({source}) {problem}")
        return
    if shutil.which(word, path=environ.get("PATH", os.defpath)) is None:
        raise ConfigurationError(
            f"event handler {word!r} ({source}) is not an executable file on PATH"
        )
