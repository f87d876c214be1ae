"""CPU cost of one training step against the micro-batch size (sciwm.model.flow.loss_and_grad).

    python3 benchmarks/training.py [--presets ala2,ala2-large,lj] [--micro 0,4,8,16] [--repeats 5]

One compiled optimiser step (loss, gradient, AdamW, EMA) of each preset's network and batch size on
its own system (ala2 presets: alanine dipeptide in implicit solvent, 22 atoms; lj: 256 argon atoms,
NPT), for each micro-batch size (0: the whole batch at once, as before this option existed), all in
this one process on one JAX device. Weights and windows are synthetic: the cost does not depend on
them. Medians of --repeats timings of ~1 s of steps each; a table on stdout and results/training.json.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from sciwm.data.files import write_json_atomic
from sciwm.model.config import ModelConfig
from sciwm.model.emulator import configure_cpu
from sciwm.systems import get_system
from sciwm.train.presets import get_preset
from sciwm.train.trainer import Trainer

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEMS = {"ala2": "ala2-implicit", "ala2-large": "ala2-implicit", "lj": "lj", "lj-large": "lj"}


def synthetic_batch(system, n: int, rng) -> dict:
    x_t = np.repeat(np.asarray(system.positions, np.float32)[None], n, 0)
    batch = {"x_t": x_t, "x_1": x_t + rng.normal(0.0, 0.02, x_t.shape).astype(np.float32),
             "temperature": np.full(n, 300.0, np.float32), "lag_ps": np.full(n, 10.0, np.float32),
             "pressure": np.full(n, 1.0 if system.periodic else np.nan, np.float32)}
    if system.periodic:
        batch["box_t"] = batch["box_1"] = np.repeat(np.diag(system.box).astype(np.float32)[None], n, 0)
    return batch


def step_ms(preset: str, micro: int, repeats: int) -> float:
    system = get_system(SYSTEMS[preset])
    symbols = [a.element.symbol for a in system.topology.atoms]
    species = sorted(set(symbols))
    cfg = get_preset(preset, micro_batch=micro)
    config = ModelConfig(species=tuple(species), periodic=system.periodic, npt=system.periodic,
                         box_strain=system.periodic, align=not system.periodic, **cfg.model)
    trainer = Trainer(config, cfg, np.array([species.index(s) for s in symbols]))
    state = trainer.init_state()
    batch = jax.tree_util.tree_map(jnp.asarray, synthetic_batch(system, cfg.batch_size, np.random.default_rng(0)))
    batch["species"] = trainer.species
    times = []
    for n in [1] * 2 + [0] * repeats:  # compile, then one step to size the timed loops (~1 s each)
        n = n or max(2, min(10, round(1.0 / times[-1])))
        t0 = time.perf_counter()
        for _ in range(n):
            state, loss = trainer.step(state, batch)
        jax.block_until_ready(loss)
        times.append((time.perf_counter() - t0) / n)
    times = times[2:]
    return 1e3 * float(np.median(times))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default="ala2,ala2-large,lj")
    parser.add_argument("--micro", default="0,4,8,16", help="micro-batch sizes (0: the whole batch)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "training.json"))
    args = parser.parse_args(argv)
    configure_cpu()
    results = {"machine": platform.processor() or platform.machine(), "device": str(jax.devices()[0]),
               "jax": jax.__version__, "steps_ms": {}}
    print(f"{'preset':<12}{'batch':>6}" + "".join(f"{'micro ' + m:>12}" for m in args.micro.split(",")))
    for preset in args.presets.split(","):
        batch = get_preset(preset).batch_size
        row = {m: step_ms(preset, int(m), args.repeats) for m in args.micro.split(",")
               if int(m) == 0 or (int(m) < batch and batch % int(m) == 0)}
        results["steps_ms"][preset] = {"batch_size": batch, **row}
        base = row["0"]
        print(f"{preset:<12}{batch:>6}" + "".join(f"{row[m]:>8.0f} ms" + (f" ({base / row[m]:.2f}x)" if m != "0" else "")
                                                   if m in row else f"{'-':>12}" for m in args.micro.split(",")))
    write_json_atomic(args.out, results)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
