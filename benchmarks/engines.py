"""Reference-engine speed on this machine, and sciwm's overhead over a bare OpenMM loop.

    python3 benchmarks/engines.py [--quick] [--out PATH]

Speed: one NVT segment per (system, engine, platform); MD steps/s and ns/day come from the run
record's per-segment wall seconds (set-up excluded, reported apart). Overhead: sciwm's
OpenMMEngine against a bare OpenMM loop on the same openmm.System, integrator, platform, seed
and steps, fetching positions and energies every save interval; repeats are interleaved so that
load from other processes hits both alike ("MD": the loop; "all": the whole run with set-up).
Prints the tables; writes JSON (atomically).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import ase
import numpy as np
import openmm
import openmm.unit as u

import sciwm
from sciwm.data.files import write_json_atomic
from sciwm.engines import get_engine
from sciwm.engines.base import host_info
from sciwm.engines.openmm_engine import build_openmm_system
from sciwm.protocol import parse_protocol
from sciwm.systems import get_system

# (system, engine, platform, temperature K, duration ps, save every ps): ~3-10 s of MD each here
SPEED = [
    ("lj", "openmm", "Reference", 100, 15, 0.5),
    ("lj", "openmm", "CPU", 100, 75, 0.5),
    ("lj", "ase", None, 100, 5, 0.5),
    ("ala2", "openmm", "Reference", 300, 1000, 1.0),
    ("ala2", "openmm", "CPU", 300, 30, 1.0),
    ("ala2-implicit", "openmm", "Reference", 300, 400, 1.0),
    ("ala2-implicit", "openmm", "CPU", 300, 30, 1.0),
    ("cu", "ase", None, 300, 3, 0.5),
]
# (system, platform, temperature K, duration ps, save every ps) for sciwm vs bare OpenMM
OVERHEAD = [("ala2", "Reference", 300, 400, 1.0), ("lj", "CPU", 100, 20, 0.5)]
REPEATS = 5
SEED = 0


def shorten(duration_ps: float, save_ps: float, quick: bool) -> float:
    """A tenth of the duration in quick mode, still a whole number of save intervals."""
    return max(save_ps, round(duration_ps / 10 / save_ps) * save_ps) if quick else duration_ps


def sciwm_run(system, engine, platform, temperature, duration_ps, save_ps):
    eng = get_engine(engine, platform=platform)
    t0 = time.perf_counter()
    traj = eng.run(system, parse_protocol(f"T={temperature}K,t={duration_ps:g}ps"), save_every_ps=save_ps, seed=SEED)
    return traj, time.perf_counter() - t0


def speed_row(systems, name, engine, platform, temperature, duration_ps, save_ps) -> dict:
    traj, _ = sciwm_run(systems[name], engine, platform, temperature, duration_ps, save_ps)
    r = traj.record
    seg = r.segments[0]
    return {"system": name, "n_atoms": r.n_atoms, "engine": engine, "platform": r.platform,
            "precision": r.precision, "temperature_K": temperature, "timestep_fs": r.timestep_ps * 1000,
            "simulated_ps": seg.duration_ps, "md_steps": seg.md_steps, "md_seconds": seg.wall_seconds,
            "steps_per_s": seg.md_steps / seg.wall_seconds,
            "ns_per_day": seg.duration_ps / seg.wall_seconds * 86400 / 1000, "setup_seconds": r.setup_seconds}


def bare_run(system, platform, temperature, duration_ps, save_ps):
    """What a user would write with OpenMM alone, with sciwm's set-up steps (minimise, seed)."""
    t0 = time.perf_counter()
    dt = system.timestep_ps
    integrator = openmm.LangevinMiddleIntegrator(temperature, system.friction_per_ps, dt)
    integrator.setRandomNumberSeed(SEED + 1)  # sciwm maps seed s to s + 1 (OpenMM's 0 means random)
    context = openmm.Context(build_openmm_system(system), integrator, openmm.Platform.getPlatformByName(platform))
    context.setPositions(system.positions * u.nanometer)
    if system.minimize:
        openmm.LocalEnergyMinimizer.minimize(context, 10.0, 2000)
    context.setVelocitiesToTemperature(temperature, SEED + 1)
    context.applyConstraints(1e-6)
    context.applyVelocityConstraints(1e-6)
    save_steps = round(save_ps / dt)
    frames = []
    t1 = time.perf_counter()
    for _ in range(round(duration_ps / dt) // save_steps):
        integrator.step(save_steps)
        state = context.getState(getPositions=True, getEnergy=True)
        frames.append((state.getPositions(asNumpy=True), state.getPotentialEnergy(), state.getKineticEnergy()))
    t2 = time.perf_counter()
    return frames[-1][0].value_in_unit(u.nanometer), t2 - t1, t2 - t0


def overhead_row(systems, name, platform, temperature, duration_ps, save_ps, repeats) -> dict:
    system = systems[name]
    times = {"bare_md": [], "sciwm_md": [], "bare_total": [], "sciwm_total": []}
    deviation = 0.0
    for i in range(repeats):
        for who in ("bare", "sciwm") if i % 2 == 0 else ("sciwm", "bare"):  # alternate the order too
            if who == "bare":
                last, md, total = bare_run(system, platform, temperature, duration_ps, save_ps)
            else:
                traj, total = sciwm_run(system, "openmm", platform, temperature, duration_ps, save_ps)
                md, sciwm_last = traj.record.segments[0].wall_seconds, traj.positions[-1]
            times[f"{who}_md"].append(md)
            times[f"{who}_total"].append(total)
        deviation = max(deviation, float(np.abs(last - sciwm_last).max()))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"system": name, "platform": platform, "simulated_ps": duration_ps, "save_every_ps": save_ps,
            "repeats": repeats, "times_s": times, "median_s": med,
            "overhead_md_pct": 100 * (med["sciwm_md"] / med["bare_md"] - 1),
            "overhead_total_pct": 100 * (med["sciwm_total"] / med["bare_total"] - 1),
            "max_final_position_difference_nm": deviation}


def machine() -> dict:
    cpu = openmm.Platform.getPlatformByName("CPU")
    return {**host_info(), "openmm": openmm.__version__, "openmm_cpu_threads": cpu.getPropertyDefaultValue("Threads"),
            "thread_env": {k: os.environ[k] for k in ("OPENMM_CPU_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
                           if k in os.environ},
            "ase": ase.__version__, "numpy": np.__version__, "sciwm": sciwm.__version__}


def print_tables(speed, overhead) -> None:
    print(f"{'system':<14}{'atoms':>6} {'engine':<7}{'platform':<12}{'dt fs':>6}{'steps':>9}{'MD s':>7}"
          f"{'steps/s':>10}{'ns/day':>9}{'set-up s':>9}")
    for r in speed:
        print(f"{r['system']:<14}{r['n_atoms']:>6} {r['engine']:<7}{r['platform']:<12}{r['timestep_fs']:>6g}"
              f"{r['md_steps']:>9}{r['md_seconds']:>7.2f}{r['steps_per_s']:>10.0f}{r['ns_per_day']:>9.1f}"
              f"{r['setup_seconds']:>9.2f}")
    print(f"\n{'overhead':<20}{'bare MD s':>10}{'sciwm MD s':>11}{'MD':>8}{'bare all s':>11}{'sciwm all s':>12}"
          f"{'all':>8}")
    for r in overhead:
        m = r["median_s"]
        print(f"{r['system'] + ' ' + r['platform']:<20}{m['bare_md']:>10.3f}{m['sciwm_md']:>11.3f}"
              f"{r['overhead_md_pct']:>+7.1f}%{m['bare_total']:>11.3f}{m['sciwm_total']:>12.3f}"
              f"{r['overhead_total_pct']:>+7.1f}%")


def write_json(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_json_atomic(path, data)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the durations, 2 repeats (smoke check)")
    parser.add_argument("--out", help="JSON path (default results/engines.json, or engines-quick.json with --quick)")
    args = parser.parse_args(argv)
    args.out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                        "engines-quick.json" if args.quick else "engines.json")
    started, load = time.perf_counter(), os.getloadavg()
    systems = {name: get_system(name) for name in ("lj", "ala2", "ala2-implicit", "cu")}
    speed = [speed_row(systems, name, eng, plat, T, shorten(t, s, args.quick), s) for name, eng, plat, T, t, s in SPEED]
    overhead = [overhead_row(systems, name, plat, T, shorten(t, s, args.quick), s, 2 if args.quick else REPEATS)
                for name, plat, T, t, s in OVERHEAD]
    print_tables(speed, overhead)
    elapsed = time.perf_counter() - started
    print(f"\n{elapsed:.0f} s in all; 1-minute load average {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
    write_json(args.out, {"benchmark": "engines", "quick": args.quick, "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                          "machine": machine(), "elapsed_seconds": elapsed,
                          "load_average_before": load, "load_average_after": os.getloadavg(),
                          "speed": speed, "overhead": overhead})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
