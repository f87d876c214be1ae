"""Cached reference runs for benchmarks and demos: a run is simulated once, written atomically,
and reused on every later call with the same file name. Several runs go out in parallel, one
OpenMM process per core (small systems run fastest that way on the Reference platform)."""
from __future__ import annotations

import multiprocessing
import os
import sys
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ReferenceRun:
    """One reference run: output path, system name, protocol string, seed, frame interval (ps),
    engine options (platform, equilibrate_ps, ...), system options (n_atoms, ...) and start
    positions (n_atoms, 3) nm (None: the system's own)."""

    path: str
    system: str
    protocol: str
    seed: int
    save_every_ps: float = 1.0
    options: dict = field(default_factory=dict)
    system_options: dict = field(default_factory=dict)
    start: np.ndarray | None = None


def _one_thread() -> None:
    """Pool worker set-up: one OpenMM CPU thread per process (processes fill the cores)."""
    os.environ.setdefault("OPENMM_CPU_THREADS", "1")


def _run(spec: ReferenceRun) -> str:
    from sciwm.data import write_trajectory
    from sciwm.engines import get_engine
    from sciwm.engines.trajectory import State
    from sciwm.protocol import parse_protocol
    from sciwm.systems import get_system

    engine = get_engine("openmm", **spec.options)
    traj = engine.run(get_system(spec.system, **spec.system_options), parse_protocol(spec.protocol),
                      save_every_ps=spec.save_every_ps, seed=spec.seed,
                      state=None if spec.start is None else State(spec.start))
    write_trajectory(traj, spec.path)
    return spec.path


def ensure_runs(specs: list[ReferenceRun], processes: int | None = None, log=sys.stderr) -> list[str]:
    """Paths of all runs, simulating (in parallel) those whose file does not exist yet."""
    missing = [s for s in specs if not os.path.exists(s.path)]
    for s in missing:
        os.makedirs(os.path.dirname(os.path.abspath(s.path)), exist_ok=True)
    if missing:
        n = min(processes or os.cpu_count() or 1, len(missing))
        print(f"simulating {len(missing)} reference run(s) on {n} process(es) ...", file=log)
        if n == 1:
            for s in missing:
                _run(s)
        else:
            with multiprocessing.get_context("spawn").Pool(n, initializer=_one_thread) as pool:
                pool.map(_run, missing, chunksize=1)
    return [s.path for s in specs]
