"""The corrector with the replicas as the innermost axis, against the vmapped per-replica corrector.

    python3 benchmarks/corrector_layout.py [--model DIR] [--old-commit SHA]   # ~5 min here

Until commit c7be356 the force field took one configuration (n, 3) and the emulator vmapped the
corrector over the replicas: XLA's CPU code then vectorised over the innermost axes, 3 coordinates
or 22 atoms. Now the force field and the corrector take (n, 3, R) (Corrector.batch); the old code
is read from git (--old-commit) and run side by side in this process, on the same keys: both give
the same frames (to float32 round-off; printed). Measured: (1) the corrector alone, ala2-implicit,
1000 Langevin steps of 1 fs, non-bonded forces every step and every second step, R replicas on
one device; (2) the emulator end to end on every core (`configure_cpu`), 64 replicas x 10 jumps of
1 ns, learned jumps + that corrector (non-bonded every 2), with the old corrector vmapped inside
the same engine; OpenMM (Reference, one process per core) measured in the same run. Writes
results/corrector-layout.json.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time

from sciwm.model.emulator import configure_cpu

configure_cpu()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from sciwm.data import read_trajectory  # noqa: E402
from sciwm.data.files import write_json_atomic  # noqa: E402
from sciwm.engines.base import host_info  # noqa: E402
from sciwm.model.corrector import Corrector  # noqa: E402
from sciwm.model.emulator import EmulatorEngine, system_from_trajectory  # noqa: E402
from sciwm.model.io import read_config  # noqa: E402
from sciwm.protocol import parse_protocol  # noqa: E402
from sciwm.systems import get_system  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
DEFAULT_MODEL = os.path.join(DATA, "models", "ala2-implicit-300K-ala2-1runs-5000steps")


def old_corrector_class(commit: str):
    """Corrector as it was at commit, with that commit's force field (modules loaded from git)."""
    folder = tempfile.mkdtemp(prefix="sciwm-old-")
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=HERE, capture_output=True, text=True,
                          check=True).stdout.strip()
    for name in ("forcefield", "corrector"):
        text = subprocess.run(["git", "show", f"{commit}:sciwm/model/{name}.py"], cwd=root, capture_output=True,
                              text=True, check=True).stdout
        text = text.replace("from sciwm.model.forcefield import", "from old_forcefield import")
        path = os.path.join(folder, f"old_{name}.py")
        with open(path, "w") as f:
            f.write(text)
        spec = importlib.util.spec_from_file_location(f"old_{name}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[f"old_{name}"] = module
        spec.loader.exec_module(module)
    return sys.modules["old_corrector"].Corrector


class Vmapped:
    """An old per-replica corrector behind Corrector.batch's signature: vmapped over the replicas."""

    def __init__(self, corrector):
        self.corrector, self.steps = corrector, corrector.steps

    def describe(self):
        return self.corrector.describe()

    def batch(self, keys, xs, boxes, temperature, pressure=jnp.nan):
        return jax.vmap(lambda k, x, b: self.corrector(k, x, b, temperature, pressure))(keys, xs, boxes)


def best_of(f, *args, repeats: int = 3) -> float:
    jax.block_until_ready(f(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        times.append(time.perf_counter() - t0)
    return min(times)


def corrector_alone(Old, replicas=(16, 32), steps: int = 1000) -> list[dict]:
    system = get_system("ala2-implicit")
    rows = []
    for every in (1, 2):
        old = Vmapped(Old.from_system(system, steps, nonbonded_every=every))
        new = Corrector.from_system(system, steps, nonbonded_every=every)
        for R in replicas:
            x = jnp.asarray(system.positions[None] + np.random.default_rng(0).normal(0, 0.003, (R, system.n_atoms, 3)),
                            jnp.float32)
            keys = jax.random.split(jax.random.PRNGKey(1), R)
            run = {name: jax.jit(lambda k, y, c=c: c.batch(k, y, None, jnp.float32(300.0))[0])
                   for name, c in (("old", old), ("new", new))}
            diff = float(jnp.abs(run["old"](keys, x) - run["new"](keys, x)).max())
            us = {name: 1e6 * best_of(f, keys, x) / (R * steps) for name, f in run.items()}
            rows.append({"nonbonded_every": every, "replicas": R, "old_us_per_replica_step": us["old"],
                         "new_us_per_replica_step": us["new"], "speedup": us["old"] / us["new"], "max_diff_nm": diff})
            print(f"corrector alone, non-bonded every {every}, {R} replicas: {us['old']:.2f} -> {us['new']:.2f} us per "
                  f"replica-step ({us['old'] / us['new']:.2f}x); frames differ by {diff:.1e} nm", flush=True)
    return rows


def emulator(Old, model: str, replicas: int = 64, jumps: int = 10) -> dict:
    start = read_trajectory(os.path.join(DATA, "ala2-implicit-300K-a.h5"))
    system = system_from_trajectory(start.select(np.arange(start.n_frames) == start.n_frames - 1), model)
    protocol = parse_protocol(f"T=300K,t={jumps}ns")
    out = {}
    for name in ("old", "new", "learned_only"):
        corrector = None
        if name != "learned_only":
            corrector = Corrector.for_model(read_config(model), 1000, nonbonded_every=2)
            if name == "old":
                corrector = Vmapped(Old.for_model(read_config(model), 1000, nonbonded_every=2))
        engine = EmulatorEngine(model, replicas=replicas, corrector=corrector)
        engine.run(system, protocol, save_every_ps=1000.0)  # compiles
        traj = engine.run(system, protocol, save_every_ps=1000.0, seed=1)
        out[name] = replicas * jumps / sum(s.wall_seconds for s in traj.record.segments)
        print(f"emulator, {replicas} replicas x {jumps} jumps of 1 ns, {name}: {out[name]:.1f} ns/s", flush=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--old-commit", default="c7be356")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "corrector-layout.json"))
    args = parser.parse_args(argv)
    Old = old_corrector_class(args.old_commit)
    alone = corrector_alone(Old)
    emu = emulator(Old, args.model)
    sys.path.insert(0, HERE)
    from emulator import openmm_ns_per_second  # benchmarks/emulator.py

    openmm = openmm_ns_per_second("ala2-implicit")["best"]
    print(f"OpenMM (same run): {openmm:.3f} ns/s; emulator with the corrector: old {emu['old'] / openmm:.0f}x, "
          f"new {emu['new'] / openmm:.0f}x; learned only {emu['learned_only'] / openmm:.0f}x")
    write_json_atomic(args.out, {"host": host_info(), "devices": jax.device_count(), "old_commit": args.old_commit,
                                 "model": os.path.relpath(args.model, HERE), "corrector_alone": alone,
                                 "emulator_ns_per_s": emu, "openmm_ns_per_s": openmm,
                                 "speedup_vs_openmm": {k: v / openmm for k, v in emu.items()}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
