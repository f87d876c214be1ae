"""Summarise a trajectory file (frames, atoms, engine, protocol, cost); --json for scripts."""
from __future__ import annotations

import json

import numpy as np

from sciwm.data import read_trajectory
from sciwm.protocol import Protocol


def add_arguments(p) -> None:
    p.add_argument("file", metavar="FILE.h5")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _finite_mean(values: np.ndarray) -> float | None:
    """Mean over finite entries (emulated frames carry NaN energies), None if there are none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


def summarize(path: str) -> dict:
    traj = read_trajectory(path)
    r = traj.record
    info = {
        "path": path,
        "n_frames": traj.n_frames,
        "n_atoms": traj.n_atoms,
        "periodic": traj.box is not None,
        "time_ps": [float(traj.time_ps[0]), float(traj.time_ps[-1])] if traj.n_frames else [],
        "engine": r.engine if r else None,
        "platform": r.platform if r else None,
        "system": r.system.get("name") if r else None,
        "protocol": str(Protocol.from_json(r.protocol)) if r else None,
        "wall_seconds": r.wall_seconds if r else None,
        "md_steps": r.md_steps if r else None,
        "seed": r.seed if r else None,
        "mean_temperature_K": _finite_mean(traj.temperature),
        "mean_potential_energy_kJ_mol": _finite_mean(traj.potential_energy),
    }
    if traj.box is not None:
        info["mean_density_g_cm3"] = float(traj.density_g_cm3().mean())
    if "uncertainty" in traj.extra:
        info["uncertainty"] = _finite_mean(traj.extra["uncertainty"])  # None for a single model (no spread)
    if "flagged" in traj.extra:
        info["flagged_frames"] = int(np.count_nonzero(traj.extra["flagged"]))
    info["record"] = r.to_json() if r else None
    return info


def run(args) -> int:
    info = summarize(args.file)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if key != "record":
            print(f"{key:>30}: {value}")
    return 0
