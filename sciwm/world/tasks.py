"""Ĝ, the task distribution: realistic (system, initial state, protocol) triples from logged runs.

Fitted on trajectory files (sciwm.data), it keeps, per logged run, the system, engine, frame count,
save interval and protocol segments (T in K, P in bar or None, duration in ps); frames stay in
their files and are referenced by path and index. A sample picks a logged run (uniformly over
files), a frame of it as the initial state, the protocol layout (segment durations, save
interval, engine) of a run of the same system, and for each segment a set-point drawn from the
pooled set-points of that system, jittered by `jitter` x the observed range and clipped to it.
Given the same Generator, sampling is deterministic.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from sciwm.data import read_trajectory
from sciwm.engines.trajectory import State
from sciwm.data.files import read_tagged_json, write_json_atomic
from sciwm.errors import InputError
from sciwm.protocol import Protocol, Segment
from sciwm.systems import System, get_system

SIZED = ("lj", "cu")  # built-in systems whose size and box are options


@dataclass(frozen=True, eq=False)
class Task:
    """A run to make: system by name (+ get_system options), start state (positions nm, box nm),
    protocol, save interval ps and engine; source and frame say where the state came from."""

    system: str
    options: dict
    engine: str
    state: State = field(repr=False)
    protocol: Protocol
    save_every_ps: float
    source: str
    frame: int

    def build_system(self) -> System:
        return get_system(self.system, **self.options)


def _entry(path: str) -> dict:
    traj = read_trajectory(path)
    r = traj.record
    if r is None:
        raise InputError(f"{path} has no sciwm run record: cannot tell its system or protocol")
    name = str(r.system.get("name", "?"))
    options = {"n_atoms": int(r.n_atoms), **({"box_nm": float(r.system["box_nm"])} if "box_nm" in r.system else {})}
    return {"path": os.path.abspath(path), "system": name, "options": options if name in SIZED else {},
            "engine": r.engine, "n_frames": int(traj.n_frames), "save_every_ps": float(r.save_every_ps),
            "segments": [[s["temperature_K"], s["pressure_bar"], s["duration_ps"]] for s in r.protocol]}


class TaskDistribution:
    """Empirical task distribution over logged runs; build with fit(paths) or load(path)."""

    def __init__(self, entries: list[dict]):
        entries = [e for e in entries if e["n_frames"] > 0]
        if not entries:
            raise InputError("a task distribution needs at least one logged run with frames")
        self.entries = entries

    @classmethod
    def fit(cls, paths, include_emulated: bool = False) -> "TaskDistribution":
        """From trajectory files; emulated runs are left out unless include_emulated."""
        entries = [_entry(p) for p in paths]
        return cls([e for e in entries if include_emulated or e["engine"] != "emulator"])

    @staticmethod
    def _key(entry: dict) -> str:
        return json.dumps([entry["system"], entry["options"]], sort_keys=True)

    def group(self, entry: dict) -> list[dict]:
        """The logged runs of the same system (same name and size)."""
        return [e for e in self.entries if self._key(e) == self._key(entry)]

    def ranges(self, entry: dict) -> dict:
        """Observed set-point ranges of entry's system: {'T': (lo, hi) K, 'P': (lo, hi) bar or None}."""
        segs = [s for e in self.group(entry) for s in e["segments"]]
        temps = [s[0] for s in segs]
        pressures = [s[1] for s in segs if s[1] is not None]
        return {"T": (min(temps), max(temps)), "P": (min(pressures), max(pressures)) if pressures else None}

    def sample(self, rng: np.random.Generator, n: int, jitter: float = 0.1) -> list[Task]:
        """n tasks; jitter: sd of the set-point jitter as a fraction of the observed range (0: logged values)."""
        if n < 0 or jitter < 0:
            raise InputError(f"need n >= 0 and jitter >= 0, got n={n}, jitter={jitter}")
        cache: dict[str, object] = {}
        tasks = []
        for _ in range(n):
            source = self.entries[rng.integers(len(self.entries))]
            group = self.group(source)
            layout = group[rng.integers(len(group))]
            pool = [s for e in group for s in e["segments"]]
            bounds = self.ranges(source)
            segments = []
            for _, _, duration in layout["segments"]:
                T, P, _ = pool[rng.integers(len(pool))]
                T = _jitter(rng, T, bounds["T"], jitter)
                P = None if P is None else _jitter(rng, P, bounds["P"], jitter)
                segments.append(Segment(T, P, duration))
            frame = int(rng.integers(source["n_frames"]))
            if source["path"] not in cache:
                cache[source["path"]] = read_trajectory(source["path"])
            traj = cache[source["path"]]
            box = None if traj.box is None else np.asarray(traj.box[frame], float)
            tasks.append(Task(source["system"], dict(source["options"]), layout["engine"],
                              State(np.asarray(traj.positions[frame], float), box), Protocol(tuple(segments)),
                              layout["save_every_ps"], source["path"], frame))
        return tasks

    def to_json(self) -> dict:
        return {"format": "sciwm-task-distribution", "version": 1, "entries": self.entries}

    def save(self, path: str) -> None:
        """Write JSON atomically (sciwm.data.files); frames stay in their files."""
        write_json_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: str) -> "TaskDistribution":
        data = read_tagged_json(path, "sciwm-task-distribution", "task distribution")
        try:
            return cls(list(data["entries"]))
        except (KeyError, TypeError) as exc:
            raise InputError(f"corrupt task distribution {path}: {exc}") from None


def _jitter(rng: np.random.Generator, value: float, bounds: tuple[float, float], scale: float) -> float:
    """value + N(0, (scale * range)^2), clipped to the observed range, rounded to 0.1 (K or bar)."""
    lo, hi = bounds
    if scale > 0 and hi > lo:
        value = float(np.clip(value + rng.normal(0.0, scale * (hi - lo)), lo, hi))
    return round(value, 1) if lo <= round(value, 1) <= hi else value
