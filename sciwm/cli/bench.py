"""Measure the world model against reference MD: distributions and kinetics beside their noise
floors, held-out conditions, uncertainty, cost and speed. Writes DIR/report.md, DIR/metrics.json,
DIR/*.png and the compared trajectories in DIR/data/; reference runs, models and emulations are
cached in DIR/cache/ and reused when the command is run again.

Presets: quick (<= 10 min on a 2-core CPU; rough numbers), ala2, lj, full (hours).

Example: sciwm bench --preset quick --out bench-quick
"""
from __future__ import annotations

import os
import tempfile

from sciwm.errors import InputError


def add_arguments(p) -> None:
    from sciwm.bench.run import PUBLIC
    p.add_argument("--preset", default="quick", metavar="NAME", help=f"one of {', '.join(PUBLIC)} (default quick)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def check_output_dir(path: str) -> None:
    """Create `path` if missing and make sure files can be written there, before any compute."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise InputError(f"output {path} exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise InputError(f"cannot write to {path}: {exc.strerror or exc}") from None


def run(args) -> int:
    from sciwm.bench.run import get_bench_preset, run_bench
    get_bench_preset(args.preset)  # unknown names fail before the folder is touched
    check_output_dir(args.out)
    import jax  # compiled rollouts are cached across runs of this command (a re-run skips compiling)
    jax.config.update("jax_compilation_cache_dir", os.path.join(os.path.abspath(args.out), "cache", "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 2.0)
    run_bench(args.preset, args.out, quiet=args.quiet)
    return 0
