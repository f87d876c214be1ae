"""Reference seconds the agent needs: the world-model campaign against BO on reference MD alone
and random search, several seeds each, in one harness.

    python3 benchmarks/agent.py [--campaigns ala2-population,lj-density] [--seeds 5]
                                [--budget S] [--out PATH]

For each shipped campaign (experiments/*.yaml) a world model is built once from three reference
runs across the parameter range (cached under benchmarks/data/agent/; the demo's small 3-member
ensemble for ala2, a 3-member `lj` preset for LJ), then every strategy runs
with seeds 0..n-1. Reported per strategy: the reference seconds spent until the first reference
query within epsilon of the optimum (or the budget, with 'not reached'), median over seeds, and
how many seeds reached it. Ratio = BO-on-reference median / world-model median (goal >= 3).

Epsilon: target mode (ala2-population) uses the config's campaign.epsilon on |y - target|.
Maximise mode (lj-density) needs the optimum itself, measured once by reference MD and cached
(optimum.json): on the constraint's contour (density at its target, found by the secant method
in pressure, which density rises with), at the upper temperature bound and 20 K below it, the
objective is averaged over 4 replicate runs; the larger mean is the optimum y*. A feasible query
is within epsilon when y >= (1 - rel_epsilon) y* (--rel-epsilon, default 0.10: one run's
measurement scatter; lj-density's 30-ps diffusion varies by ~10% between replicate runs).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

import numpy as np

from sciwm.agent.campaign import load_world_model_source, run_campaign
from sciwm.agent.config import load_config
from sciwm.agent.demo import train_config as demo_train_config
from sciwm.agent.ledger import Ledger
from sciwm.agent.reference import ReferenceSource
from sciwm.agent.report import best_so_far
from sciwm.bench.cache import ReferenceRun, ensure_runs
from sciwm.data.files import read_json, write_json_atomic
from sciwm.train.presets import get_preset
from sciwm.world.bundle import build

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
STRATEGIES = ("world_model", "bo_reference", "random")


def world_model(config, folder: str) -> str:
    """ala2: three 1-ns reference runs across the temperature range, the demo's small ensemble.
    lj: five 200-ps runs at the corners and centre of the (T, P) box, the `lj` preset (1200 steps,
    3 members): the first try (three 100-ps runs, 400 steps) emulated frames with ~100 atom pairs
    closer than 0.3 nm, all flagged as clashes, so it predicted nothing."""
    bounds = {p.name: (p.low, p.high) for p in config.parameters}
    if config.system.startswith("ala2"):
        points, length = [(T, None) for T in np.linspace(*bounds["temperature_K"], 3)], "1ns"
    else:
        (t_lo, t_hi), (p_lo, p_hi) = bounds["temperature_K"], bounds["pressure_bar"]
        points = [(t_lo, p_lo), (t_lo, p_hi), (t_hi, p_lo), (t_hi, p_hi), ((t_lo + t_hi) / 2, (p_lo + p_hi) / 2)]
        length = "200ps"
    specs = [ReferenceRun(os.path.join(folder, f"data-{i}.h5"), config.system,
                          f"T={T:g}K" + (f",P={P:g}bar" if P is not None else "") + f",t={length}", i,
                          options={"equilibrate_ps": 20.0}, system_options=dict(config.system_options))
             for i, (T, P) in enumerate(points)]
    paths = ensure_runs(specs)
    model_dir = os.path.join(folder, "model")
    cfg = demo_train_config() if config.system.startswith("ala2") else \
        get_preset("lj", steps=1200, ensemble=3, head_steps=300)
    build(paths, model_dir, cfg, progress=False)
    return model_dir


def contour_optimum(config, folder: str, reference: ReferenceSource, replicates: int = 4) -> dict:
    """The maximise-mode optimum on the constraint contour (module docstring); cached in folder."""
    path = os.path.join(folder, "optimum.json")
    if os.path.exists(path):
        return read_json(path)
    (constraint,) = config.objective.constraints
    bounds = {p.name: (p.low, p.high) for p in config.parameters}
    runs = os.path.join(folder, "optimum-runs")
    os.makedirs(runs, exist_ok=True)
    seed = iter(range(10_000, 20_000))

    def run(T: float, P: float) -> dict:
        ev = reference.evaluate({"temperature_K": T, "pressure_bar": P}, next(seed),
                                os.path.join(runs, f"T{T:g}-P{P:.1f}-{len(os.listdir(runs))}.h5"))
        print(f"  optimum search T={T:g} K P={P:.1f} bar: " + ", ".join(f"{k}={v:.5g}" for k, v in ev.values.items()),
              file=sys.stderr, flush=True)
        return ev.values

    result = {"observable": config.objective.observable, "constraint": constraint.observable, "points": []}
    t_hi = bounds["temperature_K"][1]
    for T in (t_hi, t_hi - 20.0):
        lo, hi = bounds["pressure_bar"]
        p = [lo + (hi - lo) / 3, lo + 2 * (hi - lo) / 3]  # inside the range: the gas side bends the curve
        c = [run(T, q)[constraint.observable] for q in p]
        for _ in range(6):  # secant steps on constraint(P) = target
            new = float(np.clip(p[-1] + (constraint.target - c[-1]) * (p[-1] - p[-2]) / (c[-1] - c[-2]), lo, hi))
            p.append(new)
            c.append(run(T, new)[constraint.observable])
            if abs(c[-1] - constraint.target) < 0.25 * constraint.tolerance:
                break
        values = [run(T, p[-1]) for _ in range(replicates)]
        ys = [v[config.objective.observable] for v in values]
        result["points"].append({"temperature_K": T, "pressure_bar": p[-1],
                                 "constraint_mean": float(np.mean([v[constraint.observable] for v in values])),
                                 "mean": float(np.mean(ys)), "std": float(np.std(ys, ddof=1))})
    best = max(result["points"], key=lambda q: q["mean"])
    result["optimum"] = best["mean"]
    write_json_atomic(path, result)
    return result


def seconds_to_epsilon(config, folder: str, optimum: float | None, rel_epsilon: float) -> tuple[float, int, bool]:
    """(reference seconds, reference runs, reached): spent up to the first query within epsilon,
    or everything spent when none was. Runs are load-independent where every query simulates the
    same time (both shipped campaigns); seconds are what the budget counts."""
    ledger = Ledger(os.path.join(folder, "ledger.sqlite"))
    try:
        rows = ledger.queries()
    finally:
        ledger.close()
    x, y = best_so_far(config.objective, rows)
    if config.objective.mode == "target":
        hit = np.flatnonzero(np.nan_to_num(y, nan=np.inf) <= config.campaign.epsilon)
    else:  # maximise: the best feasible value within rel_epsilon of the optimum
        hit = np.flatnonzero(np.nan_to_num(y, nan=-np.inf) >= (1.0 - rel_epsilon) * optimum)
    if len(hit):
        return float(x[hit[0]]), int(hit[0]) + 1, True
    return (float(x[-1]) if len(x) else 0.0), len(x), False


def run_strategy(config, strategy: str, folder: str, reference, world, optimum: dict | None, args) -> dict:
    """Every seed of one strategy (finished campaigns are read back, not rerun); medians over seeds."""
    per_seed = []
    for seed in [int(x) for x in args.only_seeds.split(",")] if args.only_seeds else range(args.seeds):
        run_dir = os.path.join(folder, "runs", f"{strategy}-seed{seed}")
        cfg = dataclasses.replace(config, seed=seed)
        result = run_campaign(cfg, run_dir, reference, world if strategy == "world_model" else None, strategy=strategy)
        seconds, runs, reached = seconds_to_epsilon(cfg, run_dir, optimum and optimum["optimum"], args.rel_epsilon)
        per_seed.append({"seed": seed, "seconds_to_epsilon": seconds, "runs_to_epsilon": runs, "reached": reached,
                         "reference_runs": result.reference_runs, "world_model_runs": result.world_model_runs,
                         "spent_seconds": result.spent_seconds})
        print(f"{config.system} {strategy} seed {seed}: {seconds:.1f} s, {runs} runs, "
              f"{'reached' if reached else 'NOT reached'}", file=sys.stderr, flush=True)

    def median(key: str) -> float | None:  # None: not reached by half the seeds
        m = float(np.median([r[key] if r["reached"] else np.inf for r in per_seed]))
        return m if np.isfinite(m) else None

    return {"median_seconds_to_epsilon": median("seconds_to_epsilon"), "median_runs_to_epsilon": median("runs_to_epsilon"),
            "reached": sum(r["reached"] for r in per_seed), "per_seed": per_seed}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--campaigns", default="ala2-population,lj-density")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only-seeds", help="comma-separated seeds instead of 0..seeds-1 (to split the work "
                        "over processes; then rerun without it to gather every finished campaign)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help="run these; the others' finished campaigns (if any) are read back")
    parser.add_argument("--budget", type=float, help="override the configs' budget (reference seconds)")
    parser.add_argument("--rel-epsilon", type=float, default=0.10,
                        help="maximise mode: within epsilon means >= (1 - this) x the optimum")
    parser.add_argument("--data", default=os.path.join(HERE, "data", "agent"))
    parser.add_argument("--out", default=os.path.join(HERE, "results", "agent.json"))
    args = parser.parse_args(argv)
    results = {"seeds": args.seeds, "machine": os.uname().nodename, "cpus": os.cpu_count(), "campaigns": {}}
    if os.path.exists(args.out):  # keep the campaigns not run this time
        results["campaigns"] = read_json(args.out).get("campaigns", {})
    for name in args.campaigns.split(","):
        config = load_config(os.path.join(ROOT, "experiments", f"{name}.yaml"))
        if args.budget:
            config = dataclasses.replace(config, campaign=dataclasses.replace(config.campaign, budget_seconds=args.budget))
        folder = os.path.join(args.data, name)
        strategies = args.strategies.split(",")
        entry = results["campaigns"].setdefault(name, {"strategies": {}})
        world = None
        if "world_model" in strategies:
            world = load_world_model_source(world_model(config, folder), config)
            entry.pop("model_seconds", None)
            entry["model_train_seconds"] = world.world.manifest.get("train_seconds")  # when it was built
        reference = ReferenceSource.from_config(config)
        if config.objective.mode == "minimise":
            raise SystemExit(f"{name}: minimise-mode campaigns have no optimum search here")
        optimum = None if config.objective.mode == "target" else contour_optimum(config, folder, reference)
        for strategy in strategies:
            entry["strategies"][strategy] = run_strategy(config, strategy, folder, reference, world, optimum, args)
        rows = entry["strategies"]
        wm = rows.get("world_model", {}).get("median_seconds_to_epsilon")
        bo = rows.get("bo_reference", {}).get("median_seconds_to_epsilon")
        entry |= {"epsilon": config.campaign.epsilon if optimum is None else {"relative": args.rel_epsilon, **optimum},
                  "budget_seconds": config.campaign.budget_seconds,
                  "ratio_bo_over_world_model": bo / wm if wm and bo else None}
        print(json.dumps({name: {s: (v["median_seconds_to_epsilon"], v["reached"]) for s, v in rows.items()}}),
              flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    write_json_atomic(args.out, results, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
