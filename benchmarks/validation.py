"""Flow-matching loss of trained models on one fixed held-out set, lag by lag (ala2 models).

    python3 benchmarks/validation.py --model DIR [DIR ...] [--data A.h5 C.h5 D.h5] [--windows 1024]

The trainer's own validation loss is drawn with the model's batch size and seed, so models trained
with other batches are scored on other windows. Here every model's EMA weights see the same windows
of the held-out tenth of the given runs (the trainer's split: the last tenth of each run when there
are fewer than ten), --windows per lag at each of the ala2 presets' lags, with the same draws and
keys; the loss is normalised by each lag's displacement scale as in training (the models trained
on runs a, c, d share the same scale table). Printed and written per model:
results/validation.json. On ala2-implicit, lower is better and tracks the end-to-end fidelity
(benchmarks/README.md, sixteenth session).
"""
from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np

from sciwm.data import read_trajectory
from sciwm.data.files import read_json, write_json_atomic
from sciwm.model.emulator import configure_cpu
from sciwm.model.flow import batch_loss
from sciwm.model.io import load_model, species_indices
from sciwm.train.dataset import build_windows, split_trajectories

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = [os.path.join(HERE, "data", f"ala2-implicit-300K-{tag}.h5") for tag in "acd"]
LAGS_PS = (1.0, 10.0, 100.0, 1000.0)
BATCH = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", nargs="+", required=True, help="model directories")
    parser.add_argument("--data", nargs="+", default=RUNS, help="the runs the models were trained on")
    parser.add_argument("--windows", type=int, default=4 * BATCH, help="per lag, a multiple of 256")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "validation.json"))
    args = parser.parse_args()
    configure_cpu()
    _, held_out = split_trajectories([read_trajectory(p) for p in args.data], 0.1)
    windows = {lag: build_windows(held_out, (lag,)) for lag in LAGS_PS}
    results = read_json(args.out) if os.path.exists(args.out) else {}
    print(f"{'model':<48}{'mean':>8}" + "".join(f"{f'{lag:g} ps':>9}" for lag in LAGS_PS))
    for model in args.model:
        net, params, saved = load_model(model)
        params = jax.tree_util.tree_map(lambda a: a[0], params)  # an ensemble: its first member
        species = jnp.asarray(species_indices(saved["symbols"], saved["model"].species))
        loss = jax.jit(lambda p, key, batch: batch_loss(net, p, key, batch))
        per_lag = {}
        for lag, data in windows.items():
            values = []
            for i in range(args.windows // BATCH):
                batch = data.batch(np.random.default_rng([7, i]), BATCH) | {"species": species}
                values.append(float(loss(params, jax.random.PRNGKey(100 + i), batch)))
            per_lag[f"{lag:g}"] = float(np.mean(values))
        mean = float(np.mean(list(per_lag.values())))
        name = os.path.basename(os.path.normpath(model))
        results[name] = {"mean": mean, "per_lag": per_lag, "windows_per_lag": args.windows, "step": saved["step"],
                         "data": [os.path.basename(p) for p in args.data]}
        print(f"{name:<48}{mean:>8.4f}" + "".join(f"{v:>9.4f}" for v in per_lag.values()), flush=True)
    write_json_atomic(args.out, results)


if __name__ == "__main__":
    main()
