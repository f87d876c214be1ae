"""World-model heads against reference MD: calibration of ensemble intervals on held-out
conditions, spread-versus-error ranking, uncertainty outside the training range, cost model.

    python3 benchmarks/world.py [--quick] [--out PATH]

System: alanine dipeptide in vacuum (cheap reference). The world model (an ensemble of K members,
energy heads, cost model) trains on reference runs at TRAIN_T. Independent reference runs at the
training temperatures calibrate one interval factor per observable; the factor is then tested
on runs at temperatures the model never saw (HELD_OUT_T) and outside the range (OUT_T).
Observables: alpha-R population and mean potential energy over 1-ns windows. An interval is
"mean +- z * calibrated std" for what an independent reference run of the same length gives.
Runs and models are cached under benchmarks/data/world/.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import numpy as np
from scipy import stats

from sciwm.bench import metrics
from sciwm.bench.cache import ReferenceRun, ensure_runs
from sciwm.data import read_trajectory
from sciwm.data.files import write_json_atomic
from sciwm.model.corrector import Corrector
from sciwm.protocol import parse_protocol
from sciwm.train.presets import TrainConfig, get_preset
from sciwm.world import observables
from sciwm.world.bundle import WorldModel, build, calibration_of, fit_calibration
from sciwm.world.cost import describe_record, evaluate, read_records

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN_T, HELD_OUT_T, OUT_T = (300.0, 350.0, 400.0, 450.0), (325.0, 375.0, 425.0), (200.0, 600.0)
OBSERVABLES = ("alpha_r_population", "potential_energy_kj_mol")
LEVEL = 0.9


def preset(quick: bool, steps: int | None = None):
    """A smaller network than the 'ala2' preset (K members cost K times), lags 1 and 10 ps."""
    if quick:
        return get_preset("debug", ensemble=4, lags_ps=(1.0, 10.0), steps=60, head_steps=100)
    return TrainConfig(steps=steps or 2000, batch_size=16, lags_ps=(1.0, 10.0), ensemble=4, head_steps=1500,
                       model={"hidden_scalars": 16, "hidden_vectors": 4, "lmax": 2, "n_layers": 2,
                              "n_neighbors": 21, "cutoff_nm": 1.5})


def specs(folder: str, quick: bool):
    train_ns, case_ns, seeds = (0.2, 0.05, 2) if quick else (4.0, 1.0, 3)
    spec = lambda name, T, ns, seed: ReferenceRun(os.path.join(folder, f"{name}.h5"), "ala2",  # noqa: E731
                                             f"T={T:g}K,t={ns * 1000:g}ps", seed, options={"equilibrate_ps": 50.0,
                                                                                          "platform": "Reference"})
    train = [spec(f"train-{T:g}K", T, train_ns, 1) for T in TRAIN_T]
    calib = [spec(f"calib-{T:g}K-{s}", T, case_ns, 10 + s) for T in TRAIN_T for s in range(seeds)]
    held = [spec(f"held-{T:g}K-{s}", T, case_ns, 20 + s) for T in HELD_OUT_T for s in range(seeds)]
    out = [spec(f"out-{T:g}K-{s}", T, case_ns, 30 + s) for T in OUT_T for s in range(seeds)]
    return train, calib, held, out


def predict_cases(world: WorldModel, paths: list[str], replicas: int, seed0: int) -> list[dict]:
    """Emulate each case from its own first frame for the case's length at its temperature."""
    cases = []
    for i, path in enumerate(paths):
        ref = read_trajectory(path)
        T = float(ref.setpoint_temperature[0])
        start = ref.select(slice(0, 1))
        ps = float(ref.time_ps[-1] - ref.time_ps[0] + ref.record.save_every_ps)
        lag = 10.0 if ps >= 100 else 1.0
        per_replica = max(lag, round(ps / replicas / lag) * lag)
        traj = world.emulate(start, parse_protocol(f"T={T:g}K,t={per_replica:g}ps"), replicas=replicas,
                             seed=seed0 + i, save_every_ps=lag)
        case = {"path": os.path.basename(path), "temperature_K": T, "seconds": traj.record.wall_seconds,
                "uncertainty": float(np.nanmean(traj.extra["uncertainty"])),
                "flagged_fraction": float(np.mean(traj.extra["flagged"] != 0))}
        for name in OBSERVABLES:
            p = world.score(name, traj)
            offset, scale = calibration_of(world.calibration, name)  # raw (uncalibrated) numbers are kept
            case[name] = {"truth": float(observables.per_frame(name, ref).mean()), "mean": p.mean - offset,
                          "raw_std": p.std / scale}
        cases.append(case)
    return cases


def score(cases: list[dict], calibration: dict) -> dict:
    out = {}
    for name in OBSERVABLES:
        truth = np.array([c[name]["truth"] for c in cases])
        mean = np.array([c[name]["mean"] for c in cases]) + calibration[name]["offset"]
        std = np.array([c[name]["raw_std"] for c in cases]) * calibration[name]["scale"]
        z = stats.norm.ppf(0.5 + LEVEL / 2)
        out[name] = {"coverage": metrics.interval_coverage(truth, mean - z * std, mean + z * std),
                     "spearman_spread_error": metrics.spearman(std, np.abs(truth - mean)),
                     "mean_abs_error": float(np.mean(np.abs(truth - mean))), "mean_std": float(np.mean(std)),
                     "n": len(cases)}
    return out


def calibrate(sets: dict) -> dict:
    """Offset and std scale per observable from the calibration runs (training temperatures)."""
    cal = sets["calibration"]
    return {name: fit_calibration(np.array([c[name]["mean"] for c in cal]), np.array([c[name]["raw_std"] for c in cal]),
                                  np.array([c[name]["truth"] for c in cal]), LEVEL) for name in OBSERVABLES}


def summarise(sets: dict, calibration: dict) -> dict:
    unseen = sets["held_out"] + sets["outside"]
    return {"calibration": calibration, "held_out": score(sets["held_out"], calibration),
            "unseen_all": score(unseen, calibration), "calibration_set": score(sets["calibration"], calibration),
            "uncertainty_mean": {k: float(np.mean([c["uncertainty"] for c in v])) for k, v in sets.items()},
            "uncertainty_by_T": {f"{c['temperature_K']:g}": c["uncertainty"] for v in sets.values() for c in v}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script, numbers mean nothing")
    parser.add_argument("--data", default=os.path.join(HERE, "data", "world"))
    parser.add_argument("--out", default=os.path.join(HERE, "results", "world.json"))
    parser.add_argument("--cost-records", default=os.path.join(HERE, "data", "cost-runs.jsonl"))
    parser.add_argument("--rescore", action="store_true", help="recompute the summary from --out's saved cases")
    parser.add_argument("--steps", type=int, help="training steps (default 2000); the model goes to model-<N>steps")
    parser.add_argument("--corrector-steps", type=int, default=0,
                        help="force-field Langevin steps after each jump (sciwm.model.corrector); the model's "
                             "saved calibration is then left as it is")
    args = parser.parse_args(argv)
    if args.rescore:
        with open(args.out) as f:
            results = json.load(f)
        results |= summarise(results["cases"], calibrate(results["cases"]))
        write_results(results, args.out)
        return 0
    folder = os.path.join(args.data, "quick" if args.quick else "full")
    stages, t0 = {}, time.perf_counter()
    train, calib, held, out = specs(folder, args.quick)
    ensure_runs(train + calib + held + out)
    stages["reference_s"] = time.perf_counter() - t0
    model_dir = os.path.join(folder, "model" + (f"-{args.steps}steps" if args.steps else ""))
    cost_records = (args.cost_records,) if os.path.exists(args.cost_records) else ()
    cfg = preset(args.quick, args.steps)
    world = build([s.path for s in train], model_dir, cfg, cost_records=cost_records, progress=False)
    stages["train_s"] = time.perf_counter() - t0 - stages["reference_s"]
    if args.corrector_steps:
        world.corrector = Corrector.for_model(world.saved, args.corrector_steps)
        world.manifest["calibration"] = {}  # the saved one belongs to the model without the corrector
    replicas = cfg.ensemble
    results = {"machine": os.uname().nodename, "device": str(jax.devices()[0]), "steps": cfg.steps,
               "ensemble": cfg.ensemble, "level": LEVEL, "quick": args.quick,
               "train_T": TRAIN_T, "held_out_T": HELD_OUT_T, "outside_T": OUT_T, "corrector_steps": args.corrector_steps}
    sets = {k: predict_cases(world, [s.path for s in v], replicas, seed0=100 * j)
            for j, (k, v) in enumerate((("calibration", calib), ("held_out", held), ("outside", out)))}
    stages["emulate_s"] = time.perf_counter() - t0 - stages["reference_s"] - stages["train_s"]
    calibration = calibrate(sets)
    if not args.corrector_steps:
        world.save_calibration(calibration)
    results |= summarise(sets, calibration)
    results["cases"] = sets
    if world.cost is not None:
        records = read_records([s.path for s in calib + held + out])
        ex = [(describe_record(r), r.wall_seconds) for r in records]
        results["cost_on_this_benchmark_runs"] = evaluate(world.cost, ex)
    results["stages_s"] = stages | {"total_s": time.perf_counter() - t0}
    write_results(results, args.out)
    return 0


def write_results(results: dict, path: str) -> None:
    """Print the summary (without the cases) and write every result to path atomically."""
    print(json.dumps({k: v for k, v in results.items() if k != "cases"}, indent=1))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_json_atomic(path, results)


if __name__ == "__main__":
    sys.exit(main())
