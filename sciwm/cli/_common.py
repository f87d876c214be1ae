"""Argument helpers shared by subcommands."""
from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager

from sciwm.errors import InputError


def check_output_path(path: str) -> None:
    """Fail before any compute if `path` cannot be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise InputError(f"output {path} is a directory")
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {path}: folder {folder} does not exist")
    try:  # a real probe: os.access says yes to root even where writes fail
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None


@contextmanager
def progress_bar(total: float, unit: str, desc: str, enabled: bool = True):
    """Yields a callback(done) that moves a tqdm bar (on stderr, only when it is a terminal)."""
    from tqdm import tqdm

    bar = tqdm(total=total, unit=unit, desc=desc, disable=not enabled or not sys.stderr.isatty(),
               bar_format="{l_bar}{bar}| {n:.4g}/{total:.4g} {unit} [{elapsed}<{remaining}]")
    try:
        yield lambda done: bar.update(done - bar.n)
    finally:
        bar.close()
