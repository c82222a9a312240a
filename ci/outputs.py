"""Files a job leaves for later jobs: JSON reports and dotenv files for GitLab's
`artifacts:reports:dotenv`.

Why a module: GitLab rejects the whole artifact upload (400 "Invalid Format") for a dotenv file it
cannot parse, and the job that notices is a later one. So the file is checked against GitLab's rules
when it is written: names of ASCII letters, digits and `_`; no newline in a value (quotes are kept
as-is, not parsed, so none are added); no empty or comment lines; at most 20 variables (GitLab's
default instance limit) and 5 KiB. Writes are atomic so a killed job never leaves half a file.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ci.errors import ConfigError

DOTENV_MAX_VARIABLES = 20
DOTENV_MAX_BYTES = 5 * 1024
_DOTENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _atomic_write(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json(path: Path, data: Any) -> Path:
    """Write `data` (dicts, lists, dataclasses, paths) as indented, key-sorted JSON."""
    return _atomic_write(path, json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n")


def dotenv_text(variables: Mapping[str, Any]) -> str:
    """`NAME=value` lines GitLab accepts; ConfigError naming the first variable it would reject."""
    if len(variables) > DOTENV_MAX_VARIABLES:
        raise ConfigError(f"dotenv report has {len(variables)} variables; GitLab accepts "
                          f"{DOTENV_MAX_VARIABLES} by default")
    lines = []
    for name, value in variables.items():
        text = "" if value is None else str(value)
        if not _DOTENV_NAME.match(name):
            raise ConfigError(f"dotenv variable name {name!r}: use ASCII letters, digits and _ only")
        if "\n" in text or "\r" in text or text != text.strip():
            raise ConfigError(f"dotenv variable {name}: value has a newline or surrounding blanks")
        lines.append(f"{name}={text}\n")
    body = "".join(lines)
    if len(body.encode()) > DOTENV_MAX_BYTES:
        raise ConfigError(f"dotenv report is {len(body.encode())} bytes; GitLab accepts {DOTENV_MAX_BYTES}")
    return body


def write_dotenv(path: Path, variables: Mapping[str, Any]) -> Path:
    return _atomic_write(path, dotenv_text(variables))


def read_dotenv(path: Path) -> dict[str, str]:
    """The inverse of `write_dotenv`, for jobs and tests that read a report back."""
    return dict(line.split("=", 1) for line in Path(path).read_text().splitlines() if line)
