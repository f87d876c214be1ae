"""LJ under NPT: the corrector's Monte Carlo barostat on its own, and how long a learned jump's damage lasts.

    python3 benchmarks/corrector_npt.py [--model DIR]   # about 3 min here; writes results/corrector_npt.json

Needs the cached LJ reference runs b and the `lj` model of benchmarks/emulator.py (run
`python3 benchmarks/emulator.py --systems lj` first).
1. Barostat alone: 4 replicas from run b's last frame (at 1000 bar with the box 5% too large),
   corrector calls of 100 Langevin steps of 5 fs with a volume move every 25; mean density of the
   second half against run b's.
2. Damage: 16 frames of run b at 1000 bar, one learned jump each (1 ps and 5 ps), then the
   corrector without barostat; mean potential energy (kJ/mol) and virial pressure (bar) after
   0, 25, 100 and 400 steps, against the same quantities on run b's frames.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from sciwm.data import read_trajectory
from sciwm.data.files import write_json_atomic
from sciwm.engines.trajectory import State
from sciwm.model.corrector import Corrector
from sciwm.model.emulator import EmulatorEngine, system_from_trajectory
from sciwm.protocol import parse_protocol
from sciwm.systems import get_system
from sciwm.units import AVOGADRO, BAR_NM3_IN_KJ_PER_MOL, BOLTZMANN_KJ_PER_MOL_K

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
T = 100.0


def run_b(pressure: float):
    path = os.path.join(DATA, f"lj-100K-{pressure:g}bar-b.h5")
    if not os.path.exists(path):
        sys.exit(f"error: {path} is missing: run `python3 benchmarks/emulator.py --systems lj` first")
    return read_trajectory(path)


def density(traj, box):
    """g/cm3 of traj's atoms in boxes (..., 3) nm."""
    return sum(a.element.mass for a in traj.topology.atoms) / AVOGADRO / (np.prod(np.asarray(box), axis=-1) * 1e-21)


def barostat_alone(pressure: float, calls: int, expand: float) -> dict:
    b = run_b(pressure)
    corrector = Corrector.from_system(get_system("lj"), steps=100, barostat_interval=25)
    s = expand ** (1 / 3)
    x = jnp.tile(jnp.asarray(b.positions[-1])[None] * s, (4, 1, 1))
    box = jnp.tile(jnp.asarray(np.diag(b.box[-1]), jnp.float32)[None] * s, (4, 1))
    step = jax.jit(lambda k, x, box: corrector.batch(k, x, box, jnp.float32(T), jnp.float32(pressure)))
    rho = []
    for key in jax.random.split(jax.random.PRNGKey(0), calls):
        x, box = step(jax.random.split(key, 4), x, box)
        rho.append(density(b, box))
    emu, ref = float(np.mean(rho[calls // 2:])), float(b.density_g_cm3().mean())
    return {"pressure_bar": pressure, "start_box_factor": expand, "ps": calls * 100 * corrector.timestep_ps,
            "density_corrector": emu, "density_b": ref, "relative_error": emu / ref - 1}


def damage(model: str, lags=(1.0, 5.0), checkpoints=(0, 25, 100, 400)) -> dict:
    b = run_b(1000.0)
    corrector = Corrector.from_system(get_system("lj"), steps=25)

    def energy(x, box):  # one frame (the corrector's energy takes replicas last)
        return corrector.energy(x[..., None], box[:, None])[0]

    kT = BOLTZMANN_KJ_PER_MOL_K * T

    def pressure(x, box):  # virial pressure, bar: (N kT - dU/dlnV) / V with every coordinate scaled
        du = jax.grad(lambda s: energy(x * s ** (1 / 3), box * s ** (1 / 3)))(jnp.float32(1.0))
        return (x.shape[0] * kT - du) / jnp.prod(box) / BAR_NM3_IN_KJ_PER_MOL

    measure = jax.jit(lambda x, box: (jnp.mean(jax.vmap(energy)(x, box)), jnp.mean(jax.vmap(pressure)(x, box))))
    relax = jax.jit(lambda k, x, box: corrector.batch(k, x, box, jnp.float32(T))[0])
    frames = np.arange(100, b.n_frames, (b.n_frames - 100) // 16)[:16]
    boxes = np.diagonal(b.box[frames], axis1=1, axis2=2)
    u, p = measure(jnp.asarray(b.positions[frames]), jnp.asarray(boxes, jnp.float32))
    out = {"reference": {"energy": float(u), "pressure_bar": float(p)}}
    engine = EmulatorEngine(model, replicas=1)
    system = system_from_trajectory(b, model)
    for lag in lags:
        jumped = [engine.run(system, parse_protocol(f"T={T:g}K,P=1000bar,t={lag:g}ps"), save_every_ps=lag, seed=int(i),
                             state=State(b.positions[i], b.box[i])) for i in frames]
        x = jnp.asarray(np.array([t.positions[-1] for t in jumped]))
        box = jnp.asarray(np.array([np.diag(t.box[-1]) for t in jumped]), jnp.float32)
        rows, done, key = [], 0, jax.random.PRNGKey(0)
        for target in checkpoints:
            while done < target:
                key, sub = jax.random.split(key)
                x, done = relax(jax.random.split(sub, len(frames)), x, box), done + corrector.steps
            u, p = measure(x, box)
            rows.append({"steps": target, "energy": float(u), "pressure_bar": float(p)})
        out[f"{lag:g}ps"] = rows
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.path.join(DATA, "models", "lj-100K"))
    parser.add_argument("--out", default=os.path.join(HERE, "results", "corrector_npt.json"))
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    results = {"barostat_alone": [barostat_alone(1000.0, 100, 1.05), barostat_alone(1.0, 200, 1.0)],
               "damage_1000bar": damage(args.model)}
    print("barostat alone: pressure, density (corrector / run b), relative error")
    for r in results["barostat_alone"]:
        print(f"  {r['pressure_bar']:6g} bar  {r['density_corrector']:.4f} / {r['density_b']:.4f}  "
              f"{100 * r['relative_error']:+.2f}%")
    d = results["damage_1000bar"]
    print(f"after one learned jump at 1000 bar (run b: U {d['reference']['energy']:.0f} kJ/mol, "
          f"P {d['reference']['pressure_bar']:.0f} bar): steps, U, P")
    for lag in (k for k in d if k != "reference"):
        print(f"  {lag}: " + "; ".join(f"{r['steps']}: {r['energy']:.4g}, {r['pressure_bar']:.4g}" for r in d[lag]))
    results["seconds"] = time.perf_counter() - t0
    write_json_atomic(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
