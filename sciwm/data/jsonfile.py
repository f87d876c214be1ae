"""Small JSON files (configs, models, manifests) written atomically: a temporary file beside the
target, then os.replace, so a reader never sees half a file."""
from __future__ import annotations

import json
import os


def write_json_atomic(path: str, data, indent: int = 1) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=indent)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_json(path: str):
    with open(path) as f:
        return json.load(f)
