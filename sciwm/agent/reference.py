"""Reference MD as a campaign Source: one constant (T, P) segment per query, observables measured
from the trajectory file.

Each query runs `length_ps` at the proposed temperature (K) and, when searched, pressure (bar;
NPT) on the configured engine, saving a frame every `save_every_ps`; the trajectory is written
atomically (sciwm.data.write_trajectory) and the observables are then measured from the file, so a
result read back after a crash is identical to the one first recorded. The cost is the run
record's wall_seconds (engine set-up and MD; not building the system or writing the file).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sciwm import analysis
from sciwm.agent.config import SYSTEM_FACTS, CampaignConfig, RunSpec
from sciwm.agent.sources import Evaluation
from sciwm.data import read_trajectory, write_trajectory
from sciwm.engines import Trajectory, get_engine
from sciwm.errors import InputError
from sciwm.protocol import Protocol, Segment
from sciwm.systems import get_system

ALWAYS = ("potential_energy_kj_mol", "temperature_K")  # cheap, stored for every reference query


def measure(traj: Trajectory, names: tuple[str, ...], discard_fraction: float, frame_ps: float) -> dict[str, float]:
    """Observables (sciwm.agent.objective.OBSERVABLES) over the frames after the first
    discard_fraction of the run; frame_ps is the save interval (times are rebuilt from it)."""
    start = int(discard_fraction * traj.n_frames)
    if traj.n_frames - start < 4:
        raise InputError(f"only {traj.n_frames - start} frames left after discarding {discard_fraction:g} of the run")
    out = {}
    for name in names:
        if name == "density_g_cm3":
            value = traj.density_g_cm3()[start:].mean()
        elif name == "potential_energy_kj_mol":
            value = traj.potential_energy[start:].mean()
        elif name == "temperature_K":
            value = traj.temperature[start:].mean()
        elif name == "alpha_r_population":
            value = analysis.alpha_r(analysis.phi_psi(traj)[start:]).mean()
        elif name == "diffusion_nm2_ps":
            box = None if traj.box is None else traj.box[start:]
            value = analysis.diffusion_coefficient(traj.positions[start:], np.arange(traj.n_frames - start) * frame_ps, box)
        else:
            raise InputError(f"unknown observable {name!r}")
        out[name] = float(value)
    return out


@dataclass(frozen=True)
class ReferenceSource:
    """system: a built-in name; system_options: n_atoms, box_nm (lj, cu); observables: what to
    measure; engine/platform: the reference engine. Picklable, so it runs in worker processes."""

    system: str
    observables: tuple[str, ...]
    run: RunSpec = RunSpec()
    system_options: dict = field(default_factory=dict)
    engine: str = "openmm"
    platform: str | None = None

    @classmethod
    def from_config(cls, config: CampaignConfig) -> "ReferenceSource":
        get_engine(config.engine, platform=config.platform)  # an unknown platform fails here, before any run
        periodic = SYSTEM_FACTS[config.system][0]
        names = config.objective.observables + ALWAYS + (("density_g_cm3",) if periodic else ())
        return cls(config.system, tuple(dict.fromkeys(names)), config.run, dict(config.system_options),
                   config.engine, config.platform)

    def evaluate(self, params: dict[str, float], seed: int, result_path: str) -> Evaluation:
        system = get_system(self.system, seed=seed, **self.system_options)
        segment = Segment(float(params["temperature_K"]), params.get("pressure_bar"), self.run.length_ps)
        engine = get_engine(self.engine, platform=self.platform, equilibrate_ps=self.run.equilibrate_ps)
        traj = engine.run(system, Protocol((segment,)), save_every_ps=self.run.save_every_ps, seed=seed)
        write_trajectory(traj, result_path)
        return self.read(result_path)

    def read(self, result_path: str) -> Evaluation:
        traj = read_trajectory(result_path)
        if traj.record is None:
            raise InputError(f"{result_path} has no run record: not a reference result")
        values = measure(traj, self.observables, self.run.discard_fraction, self.run.save_every_ps)
        return Evaluation(values, None, traj.record.wall_seconds)
