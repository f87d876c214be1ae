"""Writing files so that a reader never sees half of one: everything goes to a temporary file
beside the target (same folder, so the rename is atomic) and is renamed over it; on any failure
the temporary file is removed. Plus reading of sciwm's small tagged JSON files."""
from __future__ import annotations

import json
import os
import tempfile
from typing import Callable

from sciwm.errors import InputError


def write_atomic(path, write: Callable[[str], None], suffix: str = "") -> None:
    """Call write(tmp_path) to produce the file, then rename it to path (ordinary permissions)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".sciwm-partial-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path, text: str) -> None:
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
    write_atomic(path, write)


def write_bytes_atomic(path, data: bytes) -> None:
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    write_atomic(path, write)


def write_json_atomic(path, data, indent: int = 1, default=None) -> None:
    write_text_atomic(path, json.dumps(data, indent=indent, default=default))


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


def read_tagged_json(path: str, tag: str, what: str) -> dict:
    """A JSON object whose "format" is tag; InputError (naming `what`) if missing or not one."""
    if not os.path.isfile(path):
        raise InputError(f"no {what} at {path}")
    try:
        data = read_json(path)
        if not isinstance(data, dict) or data.get("format") != tag:
            raise ValueError(f"not a sciwm {what}")
        return data
    except ValueError as exc:
        raise InputError(f"corrupt {what} {path}: {exc}") from None
