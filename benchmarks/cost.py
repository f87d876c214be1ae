"""The cost model Ĉ on this machine: a sweep of short real runs, then held-out accuracy.

    python3 benchmarks/cost.py [--fresh] [--no-emulator] [--seed N] [--splits N] [--out PATH]

Sweep: OpenMM (Reference and CPU platforms) on lj at 200-864 atoms (NVT and NPT), ala2 and
ala2-implicit; ASE on lj and cu; a few tiny emulator runs with the trained models in
benchmarks/data/models (skipped when absent). Durations spread each configuration over about one
order of magnitude of wall time; the reference runs go in a seeded random order (host load from
other processes drifts; shuffling keeps it from biasing one kind of run). Each run's RunRecord
is appended, one JSON line per run, to benchmarks/data/cost-runs.jsonl with the 1-minute load
average before and after it; a re-run reuses the runs already there (--fresh starts over).
Then Ĉ (sciwm.world.cost) is fitted on a random 70% of the runs and scored on the other 30%:
MAPE of the median prediction, coverage of the 90% interval, and the MAPE of a constant
predictor (median of the training seconds), for the reference engines and the emulator apart;
the same summarised over --splits random splits; and once more holding out the largest lj size
(extrapolation in atoms). Writes results/cost.json (atomically).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

import numpy as np

from sciwm.data.files import write_json_atomic
from sciwm.engines import RunRecord, get_engine
from sciwm.engines.base import host_info
from sciwm.protocol import parse_protocol
from sciwm.systems import get_system
from sciwm.world.cost import CostModel, describe_record, evaluate

HERE = os.path.dirname(os.path.abspath(__file__))
LOG = os.path.join(HERE, "data", "cost-runs.jsonl")
MODELS = os.path.join(HERE, "data", "models")


def reference_sweep() -> list[tuple]:
    """(system, engine, platform, n_atoms, protocol, save every ps, equilibrate ps)."""
    runs = []
    nvt = lambda T, ps: f"T={T}K,t={ps}ps"  # noqa: E731
    npt = lambda T, ps: f"T={T}K,P=1bar,t={ps}ps"  # noqa: E731
    for n, durations in ((200, (2, 6, 20)), (300, (2, 6, 15)), (400, (1, 4)), (500, (1, 3, 8)), (650, (1, 4)),
                         (864, (0.5, 2, 4))):
        runs += [("lj", "openmm", "Reference", n, nvt(100, t), 0.5, 0) for t in durations]
    runs += [("lj", "openmm", "Reference", n, npt(100, t), 0.5, 0) for n, t in ((256, 2), (256, 10), (500, 5))]
    for n, durations in ((200, (5, 20, 60)), (300, (5, 30)), (500, (3, 10, 30)), (650, (4, 20)), (864, (2, 6, 20))):
        runs += [("lj", "openmm", "CPU", n, nvt(100, t), 0.5, 0) for t in durations]
    runs += [("lj", "openmm", "CPU", n, npt(100, t), 0.5, 0) for n, t in ((256, 5), (256, 20), (864, 4))]
    runs += [("lj", "openmm", "CPU", 300, "T=100K,t=5ps; T=120K,P=1bar,t=5ps", 0.5, 5)]
    runs += [("lj", "ase", None, n, nvt(100, t), 0.5, 0) for n, t in ((200, 0.5), (200, 2), (300, 0.5), (300, 1.5),
                                                                      (500, 0.5), (500, 1.5))]
    runs += [("lj", "ase", None, n, npt(100, t), 0.5, 0) for n, t in ((256, 1), (500, 0.5))]
    runs += [("cu", "ase", None, n, nvt(300, t), 0.5, 0) for n, t in ((32, 1), (32, 4), (108, 0.5), (108, 2),
                                                                      (256, 0.5), (256, 1), (500, 0.5))]
    runs += [("cu", "ase", None, n, npt(300, t), 0.5, 0) for n, t in ((32, 2), (108, 1), (256, 0.5))]
    for name, platform, durations in (("ala2", "Reference", (20, 50, 200, 500, 1000)),
                                      ("ala2", "CPU", (2, 5, 8, 20, 40)),
                                      ("ala2-implicit", "Reference", (20, 50, 100, 200, 400)),
                                      ("ala2-implicit", "CPU", (2, 5, 10, 20))):
        runs += [(name, "openmm", platform, None, nvt(300, t), 1.0, 0) for t in durations]
    runs += [("ala2", "openmm", "Reference", None, "T=300K,t=100ps; T=400K,t=100ps", 1.0, 50)]
    runs += [("ala2-implicit", "openmm", "Reference", None, "T=300K,t=50ps", 1.0, 20)]
    return runs


def emulator_sweep() -> list[tuple]:
    """(model, start trajectory, lag ps, replicas, protocol) for the models present here."""
    runs = [("ala2-300K", "ala2-300K-a.h5", 10.0, r, f"T=300K,t={t}ps") for r, t in ((1, 100), (1, 500), (4, 400),
                                                                                   (16, 200))]
    runs += [("lj-100K", "lj-100K-1bar-a.h5", 5.0, r, f"T=100K,P=1bar,t={t}ps")
             for r, t in ((1, 25), (1, 50), (2, 100))]
    return [r for r in runs
            if os.path.isdir(os.path.join(MODELS, r[0])) and os.path.isfile(os.path.join(HERE, "data", r[1]))]


def load_log(path: str) -> dict[str, dict]:
    """Sweep key -> logged line (a RunRecord's JSON plus 'sweep': key and load averages)."""
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    return {line["sweep"]["key"]: line for line in lines if "sweep" in line}


def append_line(path: str, record, key: str, load_before) -> dict:
    line = record.to_json() | {"sweep": {"key": key, "load_before": load_before, "load_after": os.getloadavg()}}
    with open(path, "a") as f:  # one write per line: a crash leaves whole lines only
        f.write(json.dumps(line) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return line


def run_reference(spec) -> object:
    name, engine, platform, n_atoms, protocol, save_ps, eq_ps = spec
    system = get_system(name, n_atoms=n_atoms)
    options = {"equilibrate_ps": eq_ps} | ({"platform": platform} if platform else {})
    traj = get_engine(engine, **options).run(system, parse_protocol(protocol), save_every_ps=save_ps, seed=0)
    return traj.record


def run_emulator(spec) -> object:
    from sciwm.data import read_trajectory
    from sciwm.model.emulator import EmulatorEngine, system_from_trajectory
    model, start, lag, replicas, protocol = spec
    model_dir = os.path.join(MODELS, model)
    system = system_from_trajectory(read_trajectory(os.path.join(HERE, "data", start)), model_dir)
    engine = EmulatorEngine(model_dir, replicas=replicas)  # a fresh engine: JIT compile counted, as in `sciwm emulate`
    return engine.run(system, parse_protocol(protocol), save_every_ps=lag, seed=0).record


def collect(fresh: bool, emulator: bool) -> list[dict]:
    if fresh and os.path.exists(LOG):
        os.remove(LOG)
    os.makedirs(os.path.dirname(LOG), exist_ok=True)
    logged = load_log(LOG)
    reference = reference_sweep()  # in a seeded random order, so that drifts in host load hit all kinds alike
    specs = [("ref", reference[i]) for i in np.random.default_rng(0).permutation(len(reference))]
    specs += [("emu", s) for s in emulator_sweep()] if emulator else []
    lines = []
    for kind, spec in specs:
        key = json.dumps([kind, *spec])
        if key not in logged:
            load = os.getloadavg()
            record = run_reference(spec) if kind == "ref" else run_emulator(spec)
            logged[key] = append_line(LOG, record, key, load)
            print(f"  ran {key}: {record.wall_seconds:.2f} s", flush=True)
        lines.append(logged[key])
    return lines


def score(train, test) -> dict:
    """Fit on train; score the test runs ([(RunDescription, seconds)]) of the reference engines and of
    the emulator apart, with the constant predictor (median training seconds) as the baseline."""
    model = CostModel.fit(train)
    constant = float(np.median([s for _, s in train]))
    out = {"n_train": len(train), "model": model}
    for name, part in (("reference", [e for e in test if e[0].engine != "emulator"]),
                       ("emulator", [e for e in test if e[0].engine == "emulator"])):
        if part:
            seconds = np.array([s for _, s in part])
            out[name] = evaluate(model, part) | {"baseline_mape": float(np.mean(np.abs(constant - seconds) / seconds))}
    return out


def split(examples, seed: int) -> tuple[list, list]:
    order = np.random.default_rng(seed).permutation(len(examples))
    cut = int(round(0.7 * len(examples)))
    return [examples[i] for i in order[:cut]], [examples[i] for i in order[cut:]]


def print_table(model, test) -> list[dict]:
    rows = []
    print(f"{'system':<14}{'backend':<20}{'atoms':>6}{'steps':>9}{'meas s':>8}{'pred s':>8}{'90% interval':>16}"
          f"{'err':>7}")
    for d, s in sorted(test, key=lambda x: (x[0].system, x[0].backend, x[0].n_atoms, x[1])):
        median, low, high = model.predict(d)
        rows.append({"system": d.system, "backend": d.backend, "n_atoms": d.n_atoms, "ensemble": d.ensemble,
                     "steps": d.md_steps + d.equilibration_steps, "measured_s": s, "predicted_s": median,
                     "low_s": low, "high_s": high})
        print(f"{d.system:<14}{d.backend:<20}{d.n_atoms:>6}{rows[-1]['steps']:>9}{s:>8.2f}{median:>8.2f}"
              f"{f'{low:.2f}-{high:.2f}':>16}{100 * (median / s - 1):>+6.0f}%")
    return rows


def noise_floor(lines) -> dict:
    """Run-to-run scatter here: the sd of log(seconds per MD step) between reference runs of the same
    system, size, platform and ensemble (different lengths), and the MAPE that log-normal noise of
    that sd alone gives: what even a perfect model would score on these runs."""
    groups: dict[tuple, list[float]] = {}
    for r in lines:
        if r["engine"] != "emulator":
            npt = any(p["pressure_bar"] is not None for p in r["protocol"])
            key = (r["system"]["name"], r["platform"], r["n_atoms"], npt)
            groups.setdefault(key, []).append(np.log(sum(s["wall_seconds"] for s in r["segments"]) / r["md_steps"]))
    dev = [x - np.mean(v) for v in groups.values() if len(v) > 1 for x in v]
    dof = sum(len(v) - 1 for v in groups.values() if len(v) > 1)
    sd = float(np.sqrt(np.sum(np.square(dev)) / max(dof, 1)))
    return {"log_sd": sd, "dof": dof,
            "mape": float(np.mean(np.abs(np.expm1(np.random.default_rng(0).normal(0.0, sd, 100_000)))))}


def summary(name: str, r: dict) -> str:
    return (f"{name} ({r['n']} runs): MAPE {100 * r['mape']:.1f}% "
            f"(constant predictor {100 * r['baseline_mape']:.0f}%), "
            f"90% interval coverage {100 * r['coverage']:.0f}%")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fresh", action="store_true", help="discard the logged runs and sweep again")
    parser.add_argument("--no-emulator", action="store_true", help="reference engines only")
    parser.add_argument("--seed", type=int, default=0, help="seed of the 70/30 split shown")
    parser.add_argument("--splits", type=int, default=20, help="random 70/30 splits summarised")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "cost.json"))
    args = parser.parse_args(argv)
    started, load = time.perf_counter(), os.getloadavg()
    lines = collect(args.fresh, not args.no_emulator)
    sweep_seconds = time.perf_counter() - started
    examples = [(describe_record(r), r.wall_seconds) for r in map(RunRecord.from_json, lines)]
    train, test = split(examples, args.seed)
    shown = score(train, test)
    rows = print_table(shown.pop("model"), test)
    print("\n" + summary(f"held-out 30%, split seed {args.seed}, reference engines", shown["reference"]))
    if "emulator" in shown:
        print(summary("  emulator", shown["emulator"]))
    many = [score(*split(examples, seed)) for seed in range(args.splits)]
    spread = {key: [m["reference"][key] for m in many] for key in ("mape", "coverage", "baseline_mape")}
    print(f"over {args.splits} random splits, reference engines: MAPE mean {100 * np.mean(spread['mape']):.1f}% "
          f"(min {100 * min(spread['mape']):.1f}%, max {100 * max(spread['mape']):.1f}%), coverage mean "
          f"{100 * np.mean(spread['coverage']):.0f}%, constant predictor {100 * np.mean(spread['baseline_mape']):.0f}%")
    biggest = max(d.n_atoms for d, _ in examples if d.system == "lj")
    extrapolate = score([e for e in examples if not (e[0].system == "lj" and e[0].n_atoms == biggest)],
                        [e for e in examples if e[0].system == "lj" and e[0].n_atoms == biggest])
    extrapolate.pop("model")
    print(summary(f"lj at {biggest} atoms held out (trained on smaller lj)", extrapolate["reference"]))
    floor = noise_floor(lines)
    print(f"noise floor: per-step time scatters by {100 * floor['log_sd']:.0f}% (sd of log) between runs of one "
          f"configuration here; that alone gives a MAPE of {100 * floor['mape']:.0f}%")
    measured = sum(s for _, s in examples)
    stamps = [datetime.datetime.fromisoformat(t) for line in lines for t in (line["start_time"], line["end_time"])]
    sweep_wall = (max(stamps) - min(stamps)).total_seconds()
    loads = [line["sweep"]["load_before"][0] for line in lines]
    print(f"{len(examples)} runs, {measured:.0f} s of measured run time, swept in {sweep_wall:.0f} s wall "
          f"(1-minute load average during the sweep {min(loads):.1f}-{max(loads):.1f}, median {np.median(loads):.1f}); "
          f"this invocation {sweep_seconds:.0f} s")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_json_atomic(args.out, {"benchmark": "cost", "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": host_info(),
                   "n_runs": len(examples), "measured_run_seconds": measured, "sweep_wall_seconds": sweep_wall,
                   "invocation_seconds": sweep_seconds,
                   "load_average_before": load, "load_average_after": os.getloadavg(),
                   "run_load_1min": {"min": min(loads), "median": float(np.median(loads)), "max": max(loads)},
                   "split_seed": args.seed, "held_out": shown, "held_out_runs": rows,
                   "splits": {"n": args.splits, **spread}, "noise_floor": floor,
                   "extrapolation_lj_atoms": {"n_atoms": biggest, **extrapolate}})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
