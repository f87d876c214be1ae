"""Engines behind one protocol: run(system, protocol, save_every_ps, seed, state) -> Trajectory."""
from __future__ import annotations

from sciwm.engines.base import Engine
from sciwm.engines.trajectory import RunRecord, SegmentRecord, State, Trajectory
from sciwm.errors import InputError

ENGINES = ("openmm", "ase")

__all__ = ["ENGINES", "Engine", "RunRecord", "SegmentRecord", "State", "Trajectory", "get_engine"]


def get_engine(name: str, **options) -> Engine:
    """An engine by name; options go to its constructor (platform is OpenMM-only)."""
    if name == "openmm":
        from sciwm.engines.openmm_engine import OpenMMEngine
        return OpenMMEngine(**options)
    if name == "ase":
        from sciwm.engines.ase_engine import AseEngine
        options.pop("platform", None)
        return AseEngine(**options)
    raise InputError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")
