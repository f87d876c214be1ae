"""Emulator fidelity and speed against reference MD (issue: equivariant generative emulator).

    python3 benchmarks/emulator.py [--systems ala2,ala2-implicit,lj] [--steps N] [--best-replicas R,...]
                                   [--openmm-platforms Reference,CUDA] [--tag NAME] [--out PATH]
                                   [--preset NAME] [--train-ns NS] [--train-seconds S] [--train-only]
                                   [--train-extra RUN.h5 ...]
                                   [--corrector-steps N] [--corrector-hydrogen-mass DA]
                                   [--corrector-timestep-fs FS] [--corrector-friction G]
                                   [--corrector-barostat K [--corrector-barostat-moves M]]
                                   [--seed S] [--lag-ps PS] [--fidelity-only | --speed-only] [--model SYSTEM=DIR]

Reference runs (two independent ones per condition, 'a' trains, 'b' is held out; --train-ns adds
training runs c, d, ...: 25 ns each for ala2, 2 ns per pressure for LJ) and trained models are
cached under benchmarks/data/ and reused.
For each system it emulates an ensemble of the same total length as one reference run and
reports: ala2 - 2-D phi/psi Jensen-Shannon distance to run b next to the a-vs-b noise floor, both
for all of a's frames and for a thinned to the emulator's frame interval (the emulated ensemble's
sample size: a histogram distance grows as the samples shrink, so the thinned floor is the
like-for-like one), alpha-R population, core-to-core transition rate; LJ -
mean density and RDF mean absolute error at two pressures, next to the a-vs-b floor. Speed:
emulated ns per wall-second (batched replicas) against OpenMM on its fastest platform with one
process per core, measured in this run. Conventions: sciwm.analysis.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time

import jax

from sciwm import analysis
from sciwm.bench.cache import ReferenceRun, ensure_runs
from sciwm.data import read_trajectory, write_trajectory
from sciwm.data.files import read_json, write_json_atomic
from sciwm.engines import get_engine
from sciwm.model.corrector import Corrector
from sciwm.model.emulator import EmulatorEngine, configure_cpu, system_from_trajectory
from sciwm.model.io import read_config
from sciwm.protocol import parse_protocol
from sciwm.systems import get_system
from sciwm.train.presets import get_preset
from sciwm.train.trainer import step_seconds, train

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
REF_NS = 20.0  # per reference run (ala2)
EXTRA_NS = 25.0  # per extra training run (--train-ns above REF_NS), seeds 3, 4, ...
LJ_REF_NS = 2.0  # per LJ reference run and pressure; extra training runs as long (seeds 3, 4, ...)
ALA2_LAG_PS = 10.0
ALA2_REPLICAS = 10
LJ_PRESSURES = (1.0, 1000.0)
LJ_LAG_PS = 5.0


def reference(name: str, system: str, protocol: str, seed: int, **options) -> str:
    """Path of a cached reference run (sciwm.bench.cache); simulated here if missing."""
    return ensure_runs([ReferenceRun(os.path.join(DATA, f"{name}.h5"), system, protocol, seed, 1.0, options)])[0]


def trained(name: str, data: list[str], preset: str) -> tuple[str, float]:
    preset = OPTIONS["preset"] or preset
    steps = OPTIONS["steps"]
    if steps is None and OPTIONS["train_seconds"]:  # as many steps (in thousands) as fit the budget here
        per_step = step_seconds(data, get_preset(preset))
        steps = max(1000, int(OPTIONS["train_seconds"] / per_step) // 1000 * 1000)
        print(f"{name}: {per_step * 1e3:.1f} ms per training step here -> {steps} steps", file=sys.stderr, flush=True)
    overrides = {"steps": steps} if steps else {}
    suffix = f"-{preset}-{len(data)}runs" if OPTIONS["preset"] else ""
    out = os.path.join(DATA, "models", name + suffix + (f"-{steps}steps" if overrides else ""))
    cfg = get_preset(preset, **overrides)
    history_path = os.path.join(out, "history.json")
    if os.path.exists(history_path):  # a finished model is reused as it is, even from an older preset
        history = read_json(history_path)
        if history["train"] and history["train"][-1][0] >= cfg.steps:
            return out, history["seconds"]
    history = train(data, out, cfg)
    return out, history["seconds"]


def log(message: str) -> None:
    """A progress line on stderr (a device run that hits its time limit still shows where it got)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def given(system: str) -> tuple[str, float]:
    """--model SYSTEM=DIR: an already trained model, and the training seconds it recorded."""
    model = OPTIONS["models"][system]
    return model, read_json(os.path.join(model, "history.json"))["seconds"]


def trained_only(system: str, model: str, train_seconds: float) -> dict:
    """The result of --train-only: where the model is and what its training took here."""
    return {"system": system, "model": os.path.relpath(model, HERE), "train_seconds": train_seconds,
            "steps": read_json(os.path.join(model, "history.json"))["train"][-1][0], "device": str(jax.devices()[0])}


OPTIONS = {"steps": None, "best_replicas": (1, 4, 16, 100), "platforms": (None,), "corrector_steps": 0, "tag": "",
           "preset": None, "train_ns": None, "train_only": False, "train_seconds": None, "seed": 0,
           "lag_ps": None, "fidelity_only": False, "speed_only": False, "corrector": {}, "models": {},
           "sample_steps": None, "train_extra": []}


def emulator(model: str, replicas: int) -> EmulatorEngine:
    """The engine for a model, with the force-field corrector when --corrector-steps is given."""
    steps = OPTIONS["corrector_steps"]
    corrector = Corrector.for_model(read_config(model), steps, **OPTIONS["corrector"]) if steps else None
    return EmulatorEngine(model, replicas=replicas, corrector=corrector, sample_steps=OPTIONS["sample_steps"])


def emulated_path(name: str) -> str:
    return os.path.join(DATA, f"{name}-emulated{'-' + OPTIONS['tag'] if OPTIONS['tag'] else ''}.h5")


def _openmm_rate(args) -> float:
    system, conditions, seconds, seed, platform = args
    os.environ["OPENMM_CPU_THREADS"] = "1"
    engine = get_engine("openmm", platform=platform)
    traj = engine.run(get_system(system), parse_protocol(f"{conditions},t=2ps"), save_every_ps=1.0, seed=seed)  # warm-up
    steps_per_s = traj.record.md_steps / sum(s.wall_seconds for s in traj.record.segments)
    duration = round(steps_per_s * seconds * 2.0 / traj.record.md_steps) or 2  # ps: 2 ps took md_steps steps
    traj = engine.run(get_system(system), parse_protocol(f"{conditions},t={duration}ps"), save_every_ps=1.0, seed=seed)
    return duration * 1e-3 / sum(s.wall_seconds for s in traj.record.segments)


def openmm_ns_per_second(system: str, conditions: str = "T=300K", seconds: float = 10.0) -> dict:
    """OpenMM's best here at these conditions: each platform asked for (None: sciwm's default, the
    fastest for the size), one process per core for CPU platforms, one process for a GPU; the best
    is 'best'."""
    rates = {}
    for platform in OPTIONS["platforms"]:
        n = 1 if platform in ("CUDA", "OpenCL") else os.cpu_count() or 1
        with multiprocessing.get_context("spawn").Pool(n) as pool:
            rates[platform or "default"] = float(sum(pool.map(_openmm_rate, [(system, conditions, seconds, i, platform)
                                                                              for i in range(n)])))
    return rates | {"best": max(rates.values())}


def ala2(system: str) -> dict:
    name = f"{system}-300K"
    n_extra = int(round(((OPTIONS["train_ns"] or REF_NS) - REF_NS) / EXTRA_NS))
    specs = [("a", REF_NS, 1)] + [(chr(ord("c") + k), EXTRA_NS, 3 + k) for k in range(n_extra)]  # (tag, ns, seed)
    if system in OPTIONS["models"]:  # a given model: only run a (the start) is needed
        specs = specs[:1]
    train_runs = [reference(f"{name}-{tag}", system, f"T=300K,t={ns:g}ns", seed, equilibrate_ps=100.0)
                  for tag, ns, seed in specs]
    model, train_seconds = (given(system) if system in OPTIONS["models"] else
                            trained(name, train_runs + OPTIONS["train_extra"], "ala2"))
    if OPTIONS["train_only"]:
        return trained_only(system, model, train_seconds)
    engine = emulator(model, ALA2_REPLICAS)
    lag = OPTIONS["lag_ps"] or ALA2_LAG_PS
    if OPTIONS["speed_only"]:  # the batched throughputs alone (no fidelity run, no run b)
        return {"system": system, "device": str(jax.devices()[0]), "cpus": os.cpu_count(),
                "corrector": engine.corrector and engine.corrector.describe(),
                "sample_steps": engine.sample_steps} | speed(
                    system, model, read_trajectory(train_runs[0]), None, engine.config, lag)
    runs = [train_runs[0], reference(f"{name}-b", system, f"T=300K,t={REF_NS:g}ns", 2, equilibrate_ps=100.0)]
    a, b = (read_trajectory(p) for p in runs)
    # as many frames as run b has at ALA2_LAG_PS (2,000); at that lag also its total length
    n_jumps = int(REF_NS * 1000 / ALA2_LAG_PS / ALA2_REPLICAS)
    emu = engine.run(system_from_trajectory(a, model), parse_protocol(f"T=300K,t={n_jumps * lag:g}ps"),
                     save_every_ps=lag, seed=OPTIONS["seed"])
    write_trajectory(emu, emulated_path(name))
    seconds = sum(s.wall_seconds for s in emu.record.segments)
    log(f"{system}: emulated {emu.n_frames * lag * 1e-3:g} ns in {seconds:.0f} s")
    ang = {k: analysis.phi_psi(t) for k, t in (("a", a), ("b", b), ("emu", emu))}
    step = int(ALA2_LAG_PS)  # reference frames every 1 ps, compared at ALA2_LAG_PS (2,000 frames)
    rate = lambda t, k: analysis.transition_rate_per_ns(
        [ang[k][idx][::step if k != "emu" else 1] for idx in analysis.split_replicas(t)], ALA2_LAG_PS)
    out = {
        "system": system, "seed": OPTIONS["seed"], "reference_ns_per_run": REF_NS, "lag_ps": lag,
        "replicas": ALA2_REPLICAS, "jumps_per_replica": n_jumps, "sample_steps": engine.sample_steps,
        "train_seconds": train_seconds,
        "jsd_emulated_vs_b": analysis.js_distance(ang["emu"], ang["b"]),
        "jsd_a_vs_b": analysis.js_distance(ang["a"], ang["b"]),
        # the floor at the emulator's sample size: run a thinned to its frame interval (2,000 frames)
        "jsd_a_thinned_vs_b": analysis.js_distance(ang["a"][::step], ang["b"]),
        "alpha_r": {k: float(analysis.alpha_r(v).mean()) for k, v in ang.items()},
        "phi_positive": {k: float((v[:, 0] > 0).mean()) for k, v in ang.items()},
        # switching (~50 ps apart) is resolved at 10-ps frames only
        "rate_per_ns": {"a": rate(a, "a"), "b": rate(b, "b"),
                        "emu": rate(emu, "emu") if lag == ALA2_LAG_PS else None},
        "reference_runs": reference_spread(name, ang["a"], ang["b"]),
        "blown_up_replicas": emu.record.system["blown_up_replicas"], "corrector": emu.record.system["corrector"],
        "chirality_stopped_replicas": emu.record.system["chirality_stopped_replicas"],
        "device": str(jax.devices()[0]), "cpus": os.cpu_count(),
    }
    return out if OPTIONS["fidelity_only"] else out | speed(system, model, a, emu, engine.config, lag)


def reference_spread(name: str, a, b) -> dict:
    """How independent reference runs differ from run b (angles a, b of runs a and b): every cached
    run of the condition but b, cut to b's length, its alpha-R and phi > 0 fractions and its JSD to
    b at the emulator's frame interval - the scatter any single-run bar is read against."""
    out = {}
    for tag in "acdefgh":
        path = os.path.join(DATA, f"{name}-{tag}.h5")
        if tag == "a" or os.path.exists(path):
            x = (a if tag == "a" else analysis.phi_psi(read_trajectory(path)))[:len(b)]
            out[tag] = {"alpha_r": float(analysis.alpha_r(x).mean()), "phi_positive": float((x[:, 0] > 0).mean()),
                        "jsd_thinned_vs_b": analysis.js_distance(x[::int(ALA2_LAG_PS)], b)}
    return out


def speed(system: str, model: str, a, emu, config, lag: float) -> dict:
    """The fidelity run's speed (emu at lag ps; None: not run), the best batched throughput (longest
    lag) and the fidelity run's settings batched, each against OpenMM measured now."""
    openmm = openmm_ns_per_second(system)
    log(f"{system}: OpenMM ns/s {openmm}")
    ref_ns_per_s = openmm["best"]
    best = fastest(model, a, max(config.lag_table_ps))
    # the fidelity run's own settings (lag, corrector), batched: the speed of what was measured above
    batched = best if lag == max(config.lag_table_ps) else fastest(model, a, lag)
    out = {"openmm_ns_per_s": ref_ns_per_s, "openmm_platforms_ns_per_s": openmm,
           "best_throughput": best | {"speedup": best["emulated_ns_per_s"] / ref_ns_per_s},
           "fidelity_lag_throughput": batched | {"speedup": batched["emulated_ns_per_s"] / ref_ns_per_s}}
    if emu is not None:
        seconds = sum(s.wall_seconds for s in emu.record.segments)
        emu_ns_per_s = emu.n_frames * lag * 1e-3 / seconds
        out |= {"emulated_ns_per_s": emu_ns_per_s, "speedup": emu_ns_per_s / ref_ns_per_s}
    return out


def fastest(model: str, start, lag_ps: float) -> dict:
    """The throughput at each --best-replicas count; the fastest, with all of them under 'by_replicas'."""
    runs = [throughput(model, start, lag_ps, replicas=r, jumps=max(10, 100 // r))
            for r in OPTIONS["best_replicas"]]
    best = max(runs, key=lambda run: run["emulated_ns_per_s"])
    return best | {"by_replicas": {str(run["replicas"]): run["emulated_ns_per_s"] for run in runs}}


def throughput(model: str, start, lag_ps: float, replicas: int, jumps: int) -> dict:
    """Emulated ns per wall-second at one lag with many batched replicas (compiled once first)."""
    engine = emulator(model, replicas)
    system = system_from_trajectory(start, model)
    protocol = parse_protocol(f"T=300K,t={jumps * lag_ps:g}ps")
    engine.run(system, protocol, save_every_ps=lag_ps)  # compiles for this chunk length
    traj = engine.run(system, protocol, save_every_ps=lag_ps, seed=1)
    seconds = sum(s.wall_seconds for s in traj.record.segments)
    log(f"{replicas} replicas x {jumps} jumps of {lag_ps:g} ps: {seconds:.1f} s")
    return {"lag_ps": lag_ps, "replicas": replicas, "jumps": jumps,
            "emulated_ns_per_s": replicas * jumps * lag_ps * 1e-3 / seconds}


def lj() -> dict:
    def run(p, tag, seed):
        return reference(f"lj-100K-{p:g}bar-{tag}", "lj", f"T=100K,P={p:g}bar,t=2ns", seed, equilibrate_ps=50.0,
                         platform="CPU")

    n_extra = int(round(((OPTIONS["train_ns"] or LJ_REF_NS) - LJ_REF_NS) / LJ_REF_NS))
    specs = [("a", 1)] + [(chr(ord("c") + k), 3 + k) for k in range(n_extra)]  # (tag, seed)
    if "lj" in OPTIONS["models"]:  # a given model: only runs a (the starts) are needed
        specs = specs[:1]
    train_runs = [run(p, tag, seed) for tag, seed in specs for p in LJ_PRESSURES]
    model, train_seconds = given("lj") if "lj" in OPTIONS["models"] else trained("lj-100K", train_runs, "lj")
    if OPTIONS["train_only"]:
        return trained_only("lj", model, train_seconds)
    runs = {(p, tag): run(p, tag, seed) for p in LJ_PRESSURES for tag, seed in (("a", 1), ("b", 2))}
    lag = OPTIONS["lag_ps"] or LJ_LAG_PS
    out = {"system": "lj", "lag_ps": lag, "train_seconds": train_seconds, "pressures": {}}
    for p in LJ_PRESSURES:
        a, b = read_trajectory(runs[(p, "a")]), read_trajectory(runs[(p, "b")])
        engine = emulator(model, 4)
        emu = engine.run(system_from_trajectory(a, model), parse_protocol(f"T=100K,P={p:g}bar,t=500ps"),
                         save_every_ps=lag, seed=OPTIONS["seed"])
        write_trajectory(emu, emulated_path(f"lj-100K-{p:g}bar"))
        out["pressures"][f"{p:g}"] = {
            "density_a": float(a.density_g_cm3().mean()), "density_b": float(b.density_g_cm3().mean()),
            "density_emu": float(emu.density_g_cm3().mean()),
            "rdf_mae_emu_vs_b": analysis.rdf_mae(emu, b), "rdf_mae_a_vs_b": analysis.rdf_mae(a, b),
            "emulated_ns_per_s": 2.0 / sum(s.wall_seconds for s in emu.record.segments),
            "blown_up_replicas": emu.record.system["blown_up_replicas"],
            "flagged_fraction": float((emu.extra["flagged"] != 0).mean())}
    if not OPTIONS["fidelity_only"]:  # OpenMM in the same run; the emulator's figure includes any compilation
        p = f"{LJ_PRESSURES[-1]:g}"
        out["openmm_ns_per_s"] = openmm_ns_per_second("lj", f"T=100K,P={p}bar")
        out[f"speedup_{p}bar"] = out["pressures"][p]["emulated_ns_per_s"] / out["openmm_ns_per_s"]["best"]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--systems", default="ala2,ala2-implicit,lj")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "emulator.json"))
    parser.add_argument("--steps", type=int, help="override the presets' training steps")
    parser.add_argument("--best-replicas", default="1,4,16,100",
                        help="replica counts of the throughput runs (comma list; the fastest is reported)")
    parser.add_argument("--openmm-platforms", default="", help="comma list; default: sciwm's default platform")
    parser.add_argument("--tag", default="", help="suffix of the result keys and emulated files (e.g. gpu)")
    parser.add_argument("--preset", help="training preset for every system (default: ala2 / lj); the model "
                        "directory is named after it")
    parser.add_argument("--train-ns", type=float,
                        help=f"training data per condition, ns: run a (ala2 {REF_NS:g} ns, LJ {LJ_REF_NS:g} ns per "
                             f"pressure) plus extra runs of {EXTRA_NS:g} ns (ala2) or {LJ_REF_NS:g} ns (LJ)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fidelity emulation (default 0)")
    parser.add_argument("--lag-ps", type=float,
                        help=f"jump lag of the fidelity run, ps (ala2: default {ALA2_LAG_PS:g}; its 2,000 frames "
                             f"span 2,000 lags; the switching rate needs {ALA2_LAG_PS:g}. LJ: default {LJ_LAG_PS:g}, "
                             "4 replicas x 500 ps)")
    parser.add_argument("--fidelity-only", action="store_true", help="skip the speed measurements (LJ: OpenMM's)")
    parser.add_argument("--speed-only", action="store_true", help="ala2: only the batched throughputs and OpenMM")
    parser.add_argument("--train-seconds", type=float,
                        help="without --steps: as many training steps as fit this many seconds here (timed)")
    parser.add_argument("--train-extra", nargs="+", default=[], metavar="RUN.h5",
                        help="ala2: more training runs (e.g. from benchmarks/revisit.py)")
    parser.add_argument("--train-only", action="store_true", help="train (or reuse) the models and stop")
    parser.add_argument("--sample-steps", type=int,
                        help="midpoint ODE steps per jump (default: the model's training preset)")
    parser.add_argument("--corrector-steps", type=int, default=0,
                        help="force-field Langevin steps after each jump (sciwm.model.corrector); 0: none")
    parser.add_argument("--model", action="append", default=[], metavar="SYSTEM=DIR",
                        help="evaluate this trained model (no training; ala2: no extra runs)")
    parser.add_argument("--corrector-timestep-fs", type=float, help="the corrector's time step (default: 1 fs for "
                        "molecules, the system's for periodic ones)")
    parser.add_argument("--corrector-hydrogen-mass", type=float, help="repartitioned hydrogen mass, dalton")
    parser.add_argument("--corrector-friction", type=float, default=10.0, help="per ps (default 10)")
    parser.add_argument("--corrector-nonbonded-every", type=int, default=1, metavar="K",
                        help="multiple time steps: the non-bonded forces every K corrector steps (default 1)")
    parser.add_argument("--corrector-barostat", type=int, default=0, metavar="K",
                        help="NPT: a Monte Carlo volume move every K corrector steps (default 0: the model's volume)")
    parser.add_argument("--corrector-barostat-moves", type=int, metavar="M",
                        help="only M volume moves, after the last M blocks of K steps (default: all that fit)")
    args = parser.parse_args(argv)
    configure_cpu()  # the emulator's replicas shard over the cores
    OPTIONS.update(steps=args.steps, best_replicas=tuple(int(r) for r in args.best_replicas.split(",")),
                   platforms=tuple(args.openmm_platforms.split(",")) if args.openmm_platforms else (None,),
                   corrector_steps=args.corrector_steps, tag=args.tag, preset=args.preset,
                   train_ns=args.train_ns, train_only=args.train_only, train_extra=args.train_extra,
                   train_seconds=args.train_seconds, seed=args.seed, lag_ps=args.lag_ps,
                   fidelity_only=args.fidelity_only, speed_only=args.speed_only,
                   models=dict(m.split("=", 1) for m in args.model), sample_steps=args.sample_steps,
                   corrector={"friction_per_ps": args.corrector_friction,
                              "hydrogen_mass": args.corrector_hydrogen_mass,
                              "barostat_interval": args.corrector_barostat,
                              "barostat_moves": args.corrector_barostat_moves,
                              "nonbonded_every": args.corrector_nonbonded_every,
                              "timestep_ps": args.corrector_timestep_fs and args.corrector_timestep_fs * 1e-3})
    os.makedirs(DATA, exist_ok=True)
    results = {}
    for name in args.systems.split(","):
        t0 = time.perf_counter()
        key = name + (f"-{args.tag}" if args.tag else "")
        results[key] = lj() if name == "lj" else ala2(name)
        results[key]["benchmark_seconds"] = time.perf_counter() - t0
        print(json.dumps(results[key], indent=1), flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    previous = read_json(args.out) if os.path.exists(args.out) else {}
    write_json_atomic(args.out, previous | results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
