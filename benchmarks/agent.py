"""Reference seconds the agent needs: the world-model campaign against BO on reference MD alone
and random search, several seeds each, in one harness.

    python3 benchmarks/agent.py [--campaigns ala2-population,lj-density] [--seeds 5]
                                [--budget S] [--out PATH]

For each shipped campaign (experiments/*.yaml) a world model is built once from three reference
runs across the parameter range (cached under benchmarks/data/agent/; the demo's small 3-member
ensemble for ala2, a 3-member `lj` preset for LJ), then every strategy runs
with seeds 0..n-1. Reported per strategy: the reference seconds spent until the first reference
query within epsilon of the target (or the budget, with 'not reached'), median over seeds, and
how many seeds reached it. Ratio = BO-on-reference median / world-model median (goal >= 3).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

from sciwm.agent.campaign import load_world_model_source, run_campaign
from sciwm.agent.config import load_config
from sciwm.agent.demo import train_config as demo_train_config
from sciwm.agent.ledger import Ledger
from sciwm.agent.reference import ReferenceSource
from sciwm.agent.report import best_so_far
from sciwm.bench.cache import ReferenceRun, ensure_runs
from sciwm.data.files import write_json_atomic
from sciwm.train.presets import get_preset
from sciwm.world.bundle import build

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
STRATEGIES = ("world_model", "bo_reference", "random")


def world_model(config, folder: str) -> str:
    """Three 1-ns (ala2) or 100-ps (lj) reference runs across the parameter range, one model."""
    bounds = {p.name: (p.low, p.high) for p in config.parameters}
    t_lo, t_hi = bounds["temperature_K"]
    temps = np.linspace(t_lo, t_hi, 3)
    pressures = np.linspace(*bounds["pressure_bar"], 3) if "pressure_bar" in bounds else [None] * 3
    length = "1ns" if config.system.startswith("ala2") else "100ps"
    specs = [ReferenceRun(os.path.join(folder, f"data-{i}.h5"), config.system,
                     f"T={T:g}K" + (f",P={P:g}bar" if P is not None else "") + f",t={length}", i,
                     options={"equilibrate_ps": 20.0}, system_options=dict(config.system_options))
             for i, (T, P) in enumerate(zip(temps, pressures))]
    paths = ensure_runs(specs)
    model_dir = os.path.join(folder, "model")
    cfg = demo_train_config() if config.system.startswith("ala2") else \
        get_preset("lj", steps=400, ensemble=3, head_steps=200)
    build(paths, model_dir, cfg, progress=False)
    return model_dir


def seconds_to_epsilon(config, folder: str) -> tuple[float, bool]:
    ledger = Ledger(os.path.join(folder, "ledger.sqlite"))
    try:
        rows = ledger.queries()
    finally:
        ledger.close()
    x, y = best_so_far(config.objective, rows)
    eps = config.campaign.epsilon
    hit = np.flatnonzero(np.nan_to_num(y, nan=np.inf) <= eps)
    return (float(x[hit[0]]), True) if len(hit) else (float(x[-1]) if len(x) else 0.0, False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--campaigns", default="ala2-population,lj-density")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=float, help="override the configs' budget (reference seconds)")
    parser.add_argument("--data", default=os.path.join(HERE, "data", "agent"))
    parser.add_argument("--out", default=os.path.join(HERE, "results", "agent.json"))
    args = parser.parse_args(argv)
    results = {"seeds": args.seeds, "machine": os.uname().nodename, "cpus": os.cpu_count(), "campaigns": {}}
    for name in args.campaigns.split(","):
        config = load_config(os.path.join(ROOT, "experiments", f"{name}.yaml"))
        if args.budget:
            config = dataclasses.replace(config, campaign=dataclasses.replace(config.campaign, budget_seconds=args.budget))
        folder = os.path.join(args.data, name)
        t0 = time.perf_counter()
        model_dir = world_model(config, folder)
        model_s = time.perf_counter() - t0
        reference, world = ReferenceSource.from_config(config), load_world_model_source(model_dir, config)
        rows = {}
        for strategy in STRATEGIES:
            per_seed = []
            for seed in range(args.seeds):
                run_dir = os.path.join(folder, "runs", f"{strategy}-seed{seed}")
                cfg = dataclasses.replace(config, seed=seed)
                result = run_campaign(cfg, run_dir, reference, world if strategy == "world_model" else None,
                                      strategy=strategy)
                seconds, reached = seconds_to_epsilon(cfg, run_dir)
                per_seed.append({"seed": seed, "seconds_to_epsilon": seconds, "reached": reached,
                                 "reference_runs": result.reference_runs, "world_model_runs": result.world_model_runs,
                                 "spent_seconds": result.spent_seconds})
                print(f"{name} {strategy} seed {seed}: {seconds:.1f} s {'reached' if reached else 'NOT reached'}",
                      file=sys.stderr, flush=True)
            times = [r["seconds_to_epsilon"] if r["reached"] else np.inf for r in per_seed]
            median = float(np.median(times))
            rows[strategy] = {"median_seconds_to_epsilon": median if np.isfinite(median) else None,  # None: not reached
                              "reached": sum(r["reached"] for r in per_seed), "per_seed": per_seed}
        wm, bo = rows["world_model"]["median_seconds_to_epsilon"], rows["bo_reference"]["median_seconds_to_epsilon"]
        results["campaigns"][name] = {"epsilon": config.campaign.epsilon, "budget_seconds": config.campaign.budget_seconds,
                                      "model_seconds": model_s, "strategies": rows,
                                      "ratio_bo_over_world_model": bo / wm if wm and bo else None}
        print(json.dumps({k: {s: (v["median_seconds_to_epsilon"], v["reached"]) for s, v in rows.items()}
                          for k in [name]}), flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    write_json_atomic(args.out, results, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
