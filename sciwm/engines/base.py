"""The engine protocol shared by OpenMM, ASE and the learned emulator.

An engine takes (system, protocol, save interval, seed, optional start state) and returns a
Trajectory that carries its RunRecord (provenance and wall-clock cost). Arrays follow mdtraj:
positions (n_frames, n_atoms, 3) in nm; boxes (n_frames, 3, 3) nm with vectors as rows.
"""
from __future__ import annotations

import datetime
import math
import os
import platform
import socket
import time
from typing import Callable, Protocol as TypingProtocol

import numpy as np

from sciwm.engines.trajectory import RunRecord, SegmentRecord, State, Trajectory
from sciwm.errors import InputError, SimulationError
from sciwm.protocol import Protocol
from sciwm.systems import System
from sciwm.units import kinetic_temperature

Progress = Callable[[float], None]  # called with the simulated time done so far, ps

MAX_COORDINATE_NM = 1e4  # beyond this a run has blown up


class Engine(TypingProtocol):
    name: str

    def run(self, system: System, protocol: Protocol, *, save_every_ps: float, seed: int = 0,
            state: State | None = None, progress: Progress | None = None) -> Trajectory: ...


class MDEngine:
    """Options shared by the reference engines (OpenMM, ASE).

    timestep_ps, friction_per_ps: override the system's defaults; friction 0 runs without a
    thermostat (NVE). minimize: energy-minimise first (None: the system's default).
    equilibrate_ps: unsaved MD at the first segment's set-points before the run.
    """

    name = "md"

    def __init__(self, timestep_ps: float | None = None, friction_per_ps: float | None = None,
                 minimize: bool | None = None, equilibrate_ps: float = 0.0):
        if equilibrate_ps < 0:
            raise InputError(f"equilibration time must not be negative, got {equilibrate_ps:g} ps")
        self.timestep_ps, self.friction_per_ps = timestep_ps, friction_per_ps
        self.minimize, self.equilibrate_ps = minimize, equilibrate_ps

    def settings(self, system: System, protocol: Protocol, save_every_ps: float):
        """(time step ps, friction 1/ps, minimise?, MD steps per segment, steps per frame)."""
        dt = self.timestep_ps or system.timestep_ps
        friction = system.friction_per_ps if self.friction_per_ps is None else self.friction_per_ps
        steps, save_steps = check_run_request(system, protocol, save_every_ps, self.name, dt)
        if friction < 0:
            raise InputError(f"friction must not be negative, got {friction:g} /ps")
        minimize = system.minimize if self.minimize is None else self.minimize
        return dt, friction, minimize, steps, save_steps


# Helpers shared by the engine adapters.

def check_run_request(system: System, protocol: Protocol, save_every_ps: float, engine: str,
                      timestep_ps: float) -> tuple[list[int], int]:
    """Validate a run; return MD steps per segment and steps per saved frame."""
    if engine not in system.engines:
        raise InputError(f"system {system.name!r} runs on the {' or '.join(system.engines)} engine, not {engine}")
    if protocol.has_pressure and not system.periodic:
        raise InputError(f"system {system.name!r} is not periodic: pressure (NPT) needs a periodic box")
    if not (math.isfinite(save_every_ps) and save_every_ps > 0):
        raise InputError(f"save interval must be positive, got {save_every_ps:g} ps")
    if not (math.isfinite(timestep_ps) and timestep_ps > 0):
        raise InputError(f"time step must be positive, got {timestep_ps:g} ps")
    steps = [round(s.duration_ps / timestep_ps) for s in protocol.segments]
    save_steps = round(save_every_ps / timestep_ps)
    if save_steps < 1 or abs(save_steps * timestep_ps - save_every_ps) > 1e-6 * save_every_ps + 1e-9:
        raise InputError(f"save interval {save_every_ps:g} ps is not a multiple of the time step {timestep_ps:g} ps")
    for seg, n in zip(protocol.segments, steps):
        if n < 1 or abs(n * timestep_ps - seg.duration_ps) > 1e-6 * seg.duration_ps + 1e-9:
            raise InputError(f"segment duration {seg.duration_ps:g} ps is not a multiple of the time step {timestep_ps:g} ps")
    if sum(steps) < save_steps:
        raise InputError(f"protocol ({protocol.duration_ps:g} ps) is shorter than the save interval ({save_every_ps:g} ps)")
    return steps, save_steps


def check_finite(positions: np.ndarray, energy: float, time_ps: float, segment: int) -> None:
    if not np.isfinite(energy) or not np.all(np.isfinite(positions)) or np.abs(positions).max() > MAX_COORDINATE_NM:
        raise SimulationError(f"simulation blew up at t={time_ps:g} ps (segment {segment + 1}): "
                              f"non-finite energy or exploding coordinates; try a smaller time step or minimise first")


def host_info() -> dict:
    return {"hostname": socket.gethostname(), "machine": platform.machine(), "processor": _cpu_model(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(), "os": platform.platform()}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


class FrameBuffer:
    """Collects frames during a run and assembles the Trajectory."""

    def __init__(self):
        self.rows: dict[str, list] = {k: [] for k in ("time", "pos", "box", "pe", "ke", "T", "P", "seg")}

    def add(self, time_ps, positions, box, pe, ke, segment_index, segment):
        r = self.rows
        r["time"].append(time_ps)
        r["pos"].append(np.asarray(positions, dtype=np.float32))
        r["box"].append(None if box is None else np.asarray(box, dtype=np.float32))
        r["pe"].append(pe)
        r["ke"].append(ke)
        r["T"].append(segment.temperature_k)
        r["P"].append(np.nan if segment.pressure_bar is None else segment.pressure_bar)
        r["seg"].append(segment_index)

    def build(self, system: System, record: RunRecord) -> Trajectory:
        r = self.rows
        ke = np.array(r["ke"], dtype=float)
        return Trajectory(
            topology=system.topology,
            time_ps=np.array(r["time"], dtype=float),
            positions=np.stack(r["pos"]),
            box=None if r["box"][0] is None else np.stack(r["box"]),
            potential_energy=np.array(r["pe"], dtype=float),
            kinetic_energy=ke,
            temperature=kinetic_temperature(ke, record.n_dof),
            setpoint_temperature=np.array(r["T"], dtype=float),
            setpoint_pressure=np.array(r["P"], dtype=float),
            segment=np.array(r["seg"], dtype=np.int32),
            record=record,
        )


class Timer:
    def __init__(self):
        self.t0 = time.perf_counter()

    def lap(self) -> float:
        t = time.perf_counter()
        dt, self.t0 = t - self.t0, t
        return dt


class Runner(TypingProtocol):
    """What an adapter exposes to the shared segment loop (sciwm units throughout)."""

    def set_conditions(self, segment) -> None: ...
    def step(self, n_steps: int) -> None: ...
    def snapshot(self) -> tuple[np.ndarray, np.ndarray | None, float, float]:
        """positions (n_atoms, 3) nm, box (3, 3) nm or None, potential and kinetic energy kJ/mol."""
        ...


def drive(runner: Runner, system: System, protocol: Protocol, steps: list[int], save_steps: int,
          record: RunRecord, progress: Progress | None, equilibrate_ps: float, t_start: float) -> Trajectory:
    """Optionally equilibrate (unsaved, at the first segment's set-points), then run every segment,
    saving a frame each save_steps MD steps (global count, so frames are evenly spaced across
    segment boundaries). Fills the record's timings; t_start is when the run began (perf_counter)."""
    timer = Timer()
    record.setup_seconds = timer.t0 - t_start
    frames = FrameBuffer()
    dt = record.timestep_ps
    if equilibrate_ps > 0:
        n_eq = round(equilibrate_ps / dt)
        runner.set_conditions(protocol.segments[0])
        runner.step(n_eq)
        pos, _, pe, ke = runner.snapshot()
        check_finite(pos, pe + ke, 0.0, 0)
        record.equilibration_ps, record.equilibration_steps = n_eq * dt, n_eq
        record.equilibration_seconds = timer.lap()
    done = 0
    for index, (segment, n_steps) in enumerate(zip(protocol.segments, steps)):
        timer = Timer()
        runner.set_conditions(segment)
        left = n_steps
        while left > 0:
            chunk = min(left, save_steps - done % save_steps)
            runner.step(chunk)
            left -= chunk
            done += chunk
            if done % save_steps == 0:
                pos, box, pe, ke = runner.snapshot()
                check_finite(pos, pe + ke, done * dt, index)
                frames.add(done * dt, pos, box, pe, ke, index, segment)
                if progress is not None:
                    progress(done * dt)
        if done % save_steps:  # still check the end of a segment that falls between frames
            pos, _, pe, ke = runner.snapshot()
            check_finite(pos, pe + ke, done * dt, index)
        record.segments.append(SegmentRecord(segment.temperature_k, segment.pressure_bar,
                                             segment.duration_ps, n_steps, timer.lap()))
    record.md_steps = done
    record.end_time = now_iso()
    record.wall_seconds = time.perf_counter() - t_start
    return frames.build(system, record)
