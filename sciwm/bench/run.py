"""`sciwm bench`: measure the world model against reference MD and write DIR/report.md,
DIR/metrics.json, DIR/*.png and DIR/data/ (the trajectories compared, mdtraj HDF5).

Stages per system (sciwm.bench.ala2, sciwm.bench.lj): reference runs (cached, one OpenMM process
per core), world model (trained once, cached), emulation of every evaluation condition (cached),
comparisons with noise floors, speed (OpenMM and the emulator measured side by side now), and an
equal-budget comparison (both get the same wall-clock seconds). Then, over all systems: interval
coverage and spread-versus-error of the world model's predictions, and its cost model against
the measured wall times. Cache: DIR/cache/PRESET-HASH/ (a changed preset gets a new folder);
the command line adds JAX's compilation cache in DIR/cache/jax/.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass

import numpy as np

from sciwm.bench import ala2, checks, lj
from sciwm.bench.cache import ensure_runs
from sciwm.bench.report import (Bench, comparison_table, headlines, label, machine_info, speed_table, versions,
                                write_metrics, write_report)
from sciwm.data import read_trajectory, write_trajectory
from sciwm.errors import InputError
from sciwm.protocol import parse_protocol

COST_RECORDS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "data", "cost-runs.jsonl")
SPEED_SEED = 9000


@dataclass(frozen=True)
class BenchPreset:
    """A benchmark size: its systems' parts (None skips a system; sizes live in each part) and
    the base seed from which every other seed is derived."""

    name: str
    ala2: ala2.Ala2Part | None = None
    lj: lj.LjPart | None = None
    seed: int = 1


PRESETS = {name: BenchPreset(name, ala2=ala2.PARTS.get(name), lj=lj.PARTS.get(name))
           for name in ("tiny", "quick", "ala2", "lj", "full")}  # tiny: tests only; quick: <= 10 min on 2 cores
PUBLIC = ("quick", "ala2", "lj", "full")
SYSTEMS = (ala2, lj)


def get_bench_preset(name: str) -> BenchPreset:
    if name not in PRESETS:
        raise InputError(f"unknown bench preset {name!r}: choose one of {', '.join(PUBLIC)}")
    return PRESETS[name]


def cache_key(preset: BenchPreset) -> str:
    text = json.dumps(dataclasses.asdict(preset), sort_keys=True, default=str)
    return f"{preset.name}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def _protocol(case, ps: float) -> str:
    pressure = "" if case.pressure_bar is None else f",P={case.pressure_bar:g}bar"
    return f"T={case.temperature_K:g}K{pressure},t={ps:g}ps"


def _jumps(part) -> int:
    """Jumps per replica so that the replicas together cover one evaluation run; rounded up to
    whole compiled chunks (every condition then reuses one compiled rollout)."""
    from sciwm.model.emulator import CHUNK_JUMPS
    eval_ps = part.eval_ns * 1000 if hasattr(part, "eval_ns") else part.eval_ps
    n = math.ceil(eval_ps / part.lag_ps / part.replicas)
    return n if n <= CHUNK_JUMPS else CHUNK_JUMPS * math.ceil(n / CHUNK_JUMPS)


def _world(mod, part, bench: Bench, train_paths: list[str], seed: int):
    from sciwm.world.bundle import build
    folder = os.path.join(bench.cache, f"model-{mod.NAME}")
    cost = (os.path.abspath(COST_RECORDS),) if os.path.isfile(COST_RECORDS) else ()
    return build(train_paths, folder, mod.train_config(part, seed), cost_records=cost, progress=not bench.quiet,
                 log=bench.logfile)


def _emulate(world, case, part, seed: int, bench: Bench):
    if os.path.exists(case.emulated):
        return read_trajectory(case.emulated), False
    n = _jumps(part)
    bench.log(f"emulating {case.label}: {part.replicas} replicas x {n} jumps of {part.lag_ps:g} ps")
    traj = world.emulate(read_trajectory(case.ref_a).select(slice(0, 1)), parse_protocol(_protocol(case, n * part.lag_ps)),
                         replicas=part.replicas, seed=seed, save_every_ps=part.lag_ps)
    os.makedirs(os.path.dirname(case.emulated), exist_ok=True)
    write_trajectory(traj, case.emulated)
    return traj, True


def _speed(mod, part, bench: Bench, world, case, warm: bool) -> dict:
    """OpenMM (one process per core, MD loop only) and the emulator (batched replicas, compiled
    rollout), both run now at `case`'s set-points; ns of simulated time per wall-second. The
    emulator is timed on a rollout of the same shape as the evaluation ones (already compiled)."""
    folder = os.path.join(bench.cache, "speed-tmp")
    shutil.rmtree(folder, ignore_errors=True)
    ps, n_proc = part.speed_ps, os.cpu_count() or 1
    specs = [mod.run_spec(part, os.path.join(folder, f"{mod.NAME}-{i}.h5"), _protocol(case, ps), SPEED_SEED + i,
                          equilibrate=False) for i in range(n_proc)]
    ensure_runs(specs, log=bench.logfile)
    per_process = [ps * 1e-3 / sum(s.wall_seconds for s in read_trajectory(s.path).record.segments) for s in specs]
    shutil.rmtree(folder, ignore_errors=True)
    start = read_trajectory(case.ref_a).select(slice(0, 1))
    protocol = parse_protocol(_protocol(case, _jumps(part) * part.lag_ps))
    if not warm:  # compile the rollout first (a cached re-run has not run the emulator yet)
        world.emulate(start, protocol, replicas=part.replicas, seed=99, save_every_ps=part.lag_ps)
    emu = world.emulate(start, protocol, replicas=part.replicas, seed=98, save_every_ps=part.lag_ps)
    emu_rate = emu.n_frames * part.lag_ps * 1e-3 / sum(s.wall_seconds for s in emu.record.segments)
    first = read_trajectory(case.emulated).record.wall_seconds
    return {"reference_ns_per_s_per_process": float(np.mean(per_process)), "reference_processes": n_proc,
            "reference_ns_per_s": float(np.sum(per_process)), "emulator_ns_per_s": emu_rate,
            "speedup": emu_rate / float(np.sum(per_process)), "emulator_replicas": part.replicas, "lag_ps": part.lag_ps,
            "emulator_first_call_s": first, "conditions": case.label}


def _prefix(traj, keep_ps: float, per_replica: bool):
    """Frames up to keep_ps (ps since each replica's start, or since the run's first frame)."""
    t = traj.time_ps - (0.0 if per_replica else traj.time_ps[0])
    return traj.select(t <= keep_ps + 1e-9)


def _concat(trajs):
    """One Trajectory of several runs, with a per-frame `replica` array."""
    first = trajs[0]
    cat = {f.name: np.concatenate([getattr(t, f.name) for t in trajs]) for f in dataclasses.fields(first)
           if isinstance(getattr(first, f.name), np.ndarray)}
    extra = {"replica": np.concatenate([np.full(t.n_frames, i, np.int32) for i, t in enumerate(trajs)])}
    return dataclasses.replace(first, **cat, extra=extra)


def _equal_budget(mod, part, bench: Bench, case, train_specs, b, emu, speed: dict) -> None:
    """Reference and emulator each get budget_s wall seconds at the measured rates: the reference
    as prefixes of independent runs (one per core: run a and a training run at the same set-points),
    the emulator as the first jumps of every replica. Both are compared with reference run b."""
    budget = part.budget_s
    setpoints = _protocol(case, 1).rsplit(",t=", 1)[0]
    runs = [case.ref_a] + [s.path for s in train_specs if s.protocol.rsplit(",t=", 1)[0] == setpoints]
    runs = runs[:speed["reference_processes"]]
    ref_ps = budget * speed["reference_ns_per_s_per_process"] * 1e3
    full = [read_trajectory(p) for p in runs]
    ref = _concat([_prefix(t, ref_ps, False) for t in full])
    emu_ps = budget * speed["emulator_ns_per_s"] * 1e3 / part.replicas
    sample = _prefix(emu, emu_ps, True)
    names = {"ref": f"{case.name}-budget-reference.h5", "emu": f"{case.name}-budget-emulated.h5"}
    write_trajectory(ref, os.path.join(bench.data, names["ref"]))
    rows = []
    got = {"ref": mod.budget_metrics(part, b, ref)}
    if sample.n_frames:
        write_trajectory(sample, os.path.join(bench.data, names["emu"]))
        got["emu"] = mod.budget_metrics(part, b, sample)
    for metric, value in got["ref"].items():
        emu_value = got.get("emu", {}).get(metric, float("nan"))
        bench.compare(metric + "_equal_budget", emu_value, None, bench.keep(case.ref_b),
                      f"data/{names['emu']}" if sample.n_frames else None, f"data/{names['ref']}", mod.NAME,
                      reference_equal_budget_value=value, budget_s=budget, **case.where())
        rows.append([case.label, label(metric), value, emu_value])
    ns = {"reference": ref.n_frames * mod.FRAME_PS * 1e-3, "world model": sample.n_frames * part.lag_ps * 1e-3}
    capped = [f"the reference would have made {ref_ps * 1e-3:.3g} ns per run"] \
        if ref_ps > min(t.time_ps[-1] - t.time_ps[0] for t in full) + mod.FRAME_PS else []
    if emu_ps > _jumps(part) * part.lag_ps:
        capped.append(f"the world model would have made {emu_ps * 1e-3:.3g} ns per replica")
    bench.sections.setdefault("equal_budget", {})[mod.NAME] = {"budget_s": budget, "simulated_ns": ns, "capped": capped,
                                                               "reference_runs": len(runs), **got}
    bench.table(f"{mod.NAME}: equal budget ({budget:g} s of wall-clock each)",
                ["condition", "metric (vs reference run b)", "reference MD", "world model"], rows,
                f"In {budget:g} s the reference made {ns['reference']:.3g} ns ({len(runs)} process(es)); "
                f"the world model {ns['world model']:.3g} ns ({part.replicas} replicas, {part.lag_ps:g} ps jumps). "
                "Rates measured in the speed stage; the samples are prefixes of the runs above, saved in data/."
                + (f" Capped at the length of the runs above: {'; '.join(capped)}." if capped else ""))


def _system(mod, part, preset: BenchPreset, bench: Bench) -> dict:
    """All stages of one system; returns what the cross-system stages need."""
    n = mod.NAME
    train, evals, cases = mod.reference_specs(part, bench.cache, preset.seed)
    with bench.stage(f"{n}: reference runs"):
        ensure_runs(train + evals, log=bench.logfile)
    with bench.stage(f"{n}: world model"):
        world = _world(mod, part, bench, [s.path for s in train], preset.seed)
    emus, warm, seeds = [], False, {}
    with bench.stage(f"{n}: emulation"):
        for i, case in enumerate(cases):
            seeds[case.name] = 1000 * preset.seed + 700 + i
            traj, ran = _emulate(world, case, part, seeds[case.name], bench)
            emus.append(traj)
            warm |= ran
    with bench.stage(f"{n}: comparisons"):
        refs = [(read_trajectory(c.ref_a), read_trajectory(c.ref_b)) for c in cases]
        results = [mod.compare_case(part, bench, c, a, b, e, world) for c, (a, b), e in zip(cases, refs, emus)]
        mod.summarise(part, bench, results)
    k = next((i for i, c in enumerate(cases) if c.condition == "train"), 0)
    with bench.stage(f"{n}: speed"):
        speed = bench.sections.setdefault("speed", {})[n] = _speed(mod, part, bench, world, cases[k], warm)
    with bench.stage(f"{n}: equal budget"):
        _equal_budget(mod, part, bench, cases[k], train, refs[k][1], emus[k], speed)
    ref0 = refs[0][0]
    bench.data_sizes[n] = {"training runs": len(train),
                           "training frames": sum(read_trajectory(s.path).n_frames for s in train),
                           "training windows": world.saved.get("n_train_windows"), "atoms": ref0.n_atoms,
                           "evaluation runs": len(evals), "frames per evaluation run": ref0.n_frames,
                           "reference frame ps": mod.FRAME_PS, "emulated frames per condition": emus[0].n_frames,
                           "replicas": part.replicas, "jumps per replica": _jumps(part), "lag ps": part.lag_ps,
                           "ensemble K": part.ensemble}
    bench.sections.setdefault("seeds", {})[n] = {
        "reference_runs": {os.path.basename(s.path): s.seed for s in train + evals}, "training": preset.seed,
        "emulation": seeds, "bootstrap": 0, "speed_runs": [SPEED_SEED + i for i in range(os.cpu_count() or 1)]}
    return {"mod": mod, "world": world, "cases": cases, "refs": refs, "emus": emus}


def run_bench(name: str, out_dir: str, quiet: bool = False, log=sys.stderr) -> dict:
    """Run preset `name` into out_dir (reusing out_dir/cache/); returns the metrics written."""
    preset = get_bench_preset(name)
    t0, started = time.perf_counter(), time.strftime("%Y-%m-%dT%H:%M:%S%z")
    bench = Bench(out_dir, cache_key(preset), quiet, log)
    bench.log(f"preset {name}: cache {bench.rel(bench.cache)}, {os.cpu_count()} CPUs")
    runs = [_system(mod, getattr(preset, mod.NAME), preset, bench) for mod in SYSTEMS if getattr(preset, mod.NAME)]
    with bench.stage("uncertainty"):
        checks.uncertainty(bench, runs)
    with bench.stage("cost model"):
        checks.cost(bench, runs)
    speed_table(bench)
    for mod, title in ((lj, "Lennard-Jones argon (NPT)"), (ala2, "Alanine dipeptide (vacuum)")):
        if getattr(preset, mod.NAME):
            comparison_table(bench, mod.NAME, f"{title}: world model against reference MD")
    header = {"preset": dataclasses.asdict(preset), "cache": bench.rel(bench.cache), "machine": machine_info(),
              "versions": versions(), "seeds": bench.sections.pop("seeds"), "started": started,
              "total_seconds": time.perf_counter() - t0}
    misses = sum(c.get("meets_target") is False for c in bench.comparisons)
    hits = sum(c.get("meets_target") is True for c in bench.comparisons)
    intro = [f"World model against reference MD on this machine, preset `{name}`"
             + (" (small sizes: the numbers are rough, by design)." if name in ("quick", "tiny") else "."),
             "Every distance is shown beside its noise floor: the same distance between two independent reference "
             "runs of equal length (run a against run b; the world model is compared with run b, starting from run "
             "a's first frame). Trained conditions are marked 'train'; 'held-out, inside' / 'outside' lie within / "
             "beyond the training range.", "",
             f"Comparisons meeting their target: {hits}; missing it: {misses}. All files compared are in `data/` "
             "(mdtraj HDF5); `metrics.json` lists each comparison with its files.", "", *headlines(bench), "",
             "Conventions:", "", *(f"- {m.NAME}: " + m.__doc__.split("\n\n")[1].replace("\n", " ") for m in SYSTEMS
                                   if getattr(preset, m.NAME))]
    write_metrics(bench, header)
    write_report(bench, header, intro)
    bench.log(f"wrote {bench.rel(os.path.join(bench.out, 'report.md'))} and metrics.json in "
              f"{time.perf_counter() - t0:.0f} s")
    with open(os.path.join(bench.out, "metrics.json")) as f:
        return json.load(f)
