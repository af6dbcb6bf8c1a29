"""Operator-edited TOML files (taxonomy, alert rules): loading, and errors that name the file and line."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any


class ConfigFileError(ValueError):
    """A configuration file that cannot be used; the message names the file and, where known, the line."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")
        self.source = source
        self.line = line
        self.reason = message


def read_text(path: str | Path, error: type[ConfigFileError], what: str) -> str:
    """Read a configuration file as UTF-8; failure becomes ``error`` naming the file."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(str(path), None, f"cannot read {what}: {exc}") from exc


def load_toml(text: str, source: str, error: type[ConfigFileError]) -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes ``error`` with the line tomllib reported."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(source, _toml_line(exc), f"invalid TOML: {exc}") from exc


def _toml_line(exc: tomllib.TOMLDecodeError) -> int | None:
    lineno = getattr(exc, "lineno", None)  # Python 3.14 adds it; 3.11 has it in the message
    if isinstance(lineno, int):
        return lineno
    found = re.search(r"line (\d+)", str(exc))
    return int(found.group(1)) if found else None
