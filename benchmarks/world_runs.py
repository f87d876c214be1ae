"""Does the ensemble's spread rank its errors? Predictions of what one reference run gives.

    python3 benchmarks/world_runs.py [--quick] [--replicas 16] [--corrector-steps 1000] [--seed 0] [--out PATH]

Same world model, reference runs and temperature sets as benchmarks/world.py (run that first: it
builds and caches them). world.py predicts each observable's equilibrium value and scores it
against a 1-ns run; here the target is what one reference run of a given protocol gives
(WorldModel.score(..., target="run")): a case is a window of a reference run, of 10, 60 or 360 ps
at the run's temperature, started from the window's first frame; the truth is the observable over
the window at the emulator's 10-ps frame interval (like for like). Each case is emulated with
`--replicas` full-length rollouts (replica r follows member r mod K); the prediction is their mean,
its std their spread (member disagreement plus run-to-run scatter). Offset and std scale are fitted
on the windows of the calibration runs (training temperatures) and tested on the held-out and
outside-range ones. Reported: 90% coverage, Spearman(std, |error|) overall and per window length.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import numpy as np

from sciwm.data import read_trajectory
from sciwm.model.corrector import Corrector
from sciwm.protocol import parse_protocol
from sciwm.world import observables
from sciwm.world.bundle import WorldModel, calibration_key, calibration_of, fit_calibration
from world import HERE, LEVEL, OBSERVABLES, score, specs, write_results

WINDOWS_PS, LAG_PS = (10.0, 60.0, 360.0), 10.0


def windows(ref, lengths=WINDOWS_PS):
    """(start frame index, truth frame indices) of consecutive windows; reference frames every
    save_every_ps, truth frames every LAG_PS after the start (the emulator's frames)."""
    dt = ref.record.save_every_ps
    every, start, out = round(LAG_PS / dt), 0, []
    for length in lengths:
        n = round(length / LAG_PS)
        out.append((start, start + every * np.arange(1, n + 1)))
        start += every * n
    if start >= ref.n_frames:
        raise ValueError(f"windows of {sum(lengths):g} ps do not fit in a {ref.n_frames * dt:g}-ps run")
    return out


def predict_windows(world: WorldModel, paths: list[str], replicas: int, seed0: int, lengths) -> list[dict]:
    cases = []
    for i, path in enumerate(paths):
        ref = read_trajectory(path)
        T = float(ref.setpoint_temperature[0])
        truth_values = {name: observables.per_frame(name, ref) for name in OBSERVABLES}
        for j, (first, frames) in enumerate(windows(ref, lengths)):
            length = len(frames) * LAG_PS
            traj = world.emulate(ref.select(slice(first, first + 1)), parse_protocol(f"T={T:g}K,t={length:g}ps"),
                                 replicas=replicas, seed=seed0 + 10 * i + j, save_every_ps=LAG_PS)
            case = {"path": os.path.basename(path), "temperature_K": T, "window_ps": length,
                    "start_ps": float(ref.time_ps[first]), "seconds": traj.record.wall_seconds,
                    "replicas_kept": int(len(np.unique(traj.extra["replica"]))),
                    "uncertainty": float(np.nanmean(traj.extra["uncertainty"])),
                    "flagged_fraction": float(np.mean(traj.extra["flagged"] != 0))}
            for name in OBSERVABLES:
                p = world.score(name, traj, target="run")
                offset, scale = calibration_of(world.calibration, calibration_key(name, "run"))
                case[name] = {"truth": float(truth_values[name][frames].mean()), "mean": p.mean - offset,
                              "raw_std": p.std / scale}
            cases.append(case)
        print(f"{os.path.basename(path)}: {sum(c['seconds'] for c in cases[-len(lengths):]):.1f} s", file=sys.stderr)
    return cases


def summarise(sets: dict, lengths) -> dict:
    cal = sets["calibration"]
    calibration = {name: fit_calibration(np.array([c[name]["mean"] for c in cal]),
                                         np.array([c[name]["raw_std"] for c in cal]),
                                         np.array([c[name]["truth"] for c in cal]), LEVEL) for name in OBSERVABLES}
    unseen = sets["held_out"] + sets["outside"]
    out = {"calibration": calibration, "held_out": score(sets["held_out"], calibration),
           "unseen_all": score(unseen, calibration), "calibration_set": score(cal, calibration),
           "held_out_by_window": {f"{L:g}": score([c for c in sets["held_out"] if c["window_ps"] == L], calibration)
                                  for L in lengths}}
    # does the spread rise outside the training range? compare like windows: mean raw std, and the
    # members' per-frame disagreement, by set and window length
    out["raw_std_by_window"] = {k: {f"{L:g}": {name: float(np.mean([c[name]["raw_std"] for c in v if c["window_ps"] == L]))
                                              for name in OBSERVABLES} for L in lengths} for k, v in sets.items()}
    if all("uncertainty" in c for v in sets.values() for c in v):  # (not saved by the first run)
        out["uncertainty_by_T"] = {f"{T:g}": float(np.mean([c["uncertainty"] for c in v if c["temperature_K"] == T]))
                                   for v in sets.values() for T in sorted({c["temperature_K"] for c in v})}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script, numbers mean nothing")
    parser.add_argument("--data", default=os.path.join(HERE, "data", "world"))
    parser.add_argument("--model", help="world model directory (default: world.py's cached one)")
    parser.add_argument("--replicas", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0, help="emulation seeds (same windows, fresh rollouts)")
    parser.add_argument("--corrector-steps", type=int, default=1000)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "world-runs.json"))
    parser.add_argument("--rescore", action="store_true", help="recompute the summary from --out's saved cases")
    args = parser.parse_args(argv)
    lengths = (10.0, 20.0) if args.quick else WINDOWS_PS
    if args.rescore:
        if not os.path.isfile(args.out):
            print(f"error: --rescore needs saved cases in {args.out} (run without --rescore first)", file=sys.stderr)
            return 2
        with open(args.out) as f:
            results = json.load(f)
        write_results(results | summarise(results["cases"], tuple(results["windows_ps"])), args.out)
        return 0
    folder = os.path.join(args.data, "quick" if args.quick else "full")
    _, calib, held, out = specs(folder, args.quick)
    missing = [s.path for s in calib + held + out if not os.path.exists(s.path)]
    model_dir = args.model or os.path.join(folder, "model")
    if missing or not os.path.exists(os.path.join(model_dir, "world.json")):
        print(f"error: run benchmarks/world.py{' --quick' if args.quick else ''} first (it makes the reference "
              f"runs and the world model in {folder})", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    world = WorldModel(model_dir)
    if args.corrector_steps:
        world.corrector = Corrector.for_model(world.saved, args.corrector_steps)
    world.manifest["calibration"] = {}  # fitted here, on this benchmark's calibration windows
    results = {"machine": os.uname().nodename, "device": str(jax.devices()[0]), "model": os.path.abspath(model_dir),
               "replicas": args.replicas, "corrector_steps": args.corrector_steps, "windows_ps": lengths,
               "lag_ps": LAG_PS, "level": LEVEL, "seed": args.seed}
    sets = {k: predict_windows(world, [s.path for s in v], args.replicas, 1000 * (j + 1) + 10**5 * args.seed, lengths)
            for j, (k, v) in enumerate((("calibration", calib), ("held_out", held), ("outside", out)))}
    results |= summarise(sets, lengths) | {"cases": sets, "emulate_s": time.perf_counter() - t0}
    write_results(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
