"""What every engine returns: the Trajectory of a run and its RunRecord (provenance and cost).

Arrays follow mdtraj: positions (n_frames, n_atoms, 3) in nm; boxes (n_frames, 3, 3) nm with
vectors as rows; energies kJ/mol; temperatures K; pressures bar; times ps.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import mdtraj
import numpy as np

from sciwm.errors import InputError
from sciwm.units import AVOGADRO


@dataclass
class State:
    """Positions (n_atoms, 3) nm, box (3, 3) nm or None, velocities (n_atoms, 3) nm/ps or None."""

    positions: np.ndarray
    box: np.ndarray | None = None
    velocities: np.ndarray | None = None


@dataclass
class SegmentRecord:
    temperature_K: float
    pressure_bar: float | None
    duration_ps: float
    md_steps: int
    wall_seconds: float


@dataclass
class RunRecord:
    """Provenance and cost of one run; the cost model trains on these, so fields are exact."""

    engine: str
    engine_version: str
    platform: str
    precision: str
    potential: str
    integrator: str
    timestep_ps: float
    friction_per_ps: float
    seed: int
    system: dict
    protocol: list[dict]
    save_every_ps: float
    n_atoms: int
    n_dof: int
    start_time: str = ""
    end_time: str = ""
    setup_seconds: float = 0.0
    minimized: bool = False
    equilibration_ps: float = 0.0
    equilibration_steps: int = 0
    equilibration_seconds: float = 0.0
    md_steps: int = 0
    wall_seconds: float = 0.0
    segments: list[SegmentRecord] = field(default_factory=list)
    host: dict = field(default_factory=dict)
    sciwm_version: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "RunRecord":
        data = dict(data)
        data["segments"] = [SegmentRecord(**s) for s in data.get("segments", [])]
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Trajectory:
    """Frames of one run plus per-frame energies, set-points and the run record.

    time_ps (n_frames,); positions (n_frames, n_atoms, 3) nm; box (n_frames, 3, 3) nm or None;
    potential_energy, kinetic_energy (n_frames,) kJ/mol; temperature (n_frames,) K instantaneous;
    setpoint_temperature (n_frames,) K; setpoint_pressure (n_frames,) bar, NaN where NVT;
    segment (n_frames,) int index into record.protocol. extra: further per-frame arrays.
    """

    topology: mdtraj.Topology
    time_ps: np.ndarray
    positions: np.ndarray
    box: np.ndarray | None
    potential_energy: np.ndarray
    kinetic_energy: np.ndarray
    temperature: np.ndarray
    setpoint_temperature: np.ndarray
    setpoint_pressure: np.ndarray
    segment: np.ndarray
    record: RunRecord | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.time_ps)

    @property
    def n_atoms(self) -> int:
        return self.positions.shape[1]

    def volume_nm3(self) -> np.ndarray:
        """(n_frames,) box volume, nm^3 (raises for non-periodic trajectories)."""
        if self.box is None:
            raise InputError("trajectory is not periodic: no volume")
        return np.abs(np.linalg.det(self.box))

    def density_g_cm3(self) -> np.ndarray:
        """(n_frames,) mass density, g/cm^3."""
        mass_g = sum(a.element.mass for a in self.topology.atoms) / AVOGADRO
        return mass_g / (self.volume_nm3() * 1e-21)

    def to_mdtraj(self) -> mdtraj.Trajectory:
        traj = mdtraj.Trajectory(self.positions, self.topology, time=self.time_ps)
        if self.box is not None:
            traj.unitcell_vectors = self.box
        return traj

    def select(self, keep) -> "Trajectory":
        """The frames picked by keep (a bool mask, an index array or a slice), every per-frame
        array included; the topology and run record are shared."""
        return Trajectory(self.topology, self.time_ps[keep], self.positions[keep],
                          None if self.box is None else self.box[keep], self.potential_energy[keep],
                          self.kinetic_energy[keep], self.temperature[keep], self.setpoint_temperature[keep],
                          self.setpoint_pressure[keep], self.segment[keep], self.record,
                          {k: v[keep] for k, v in self.extra.items()})

    def final_state(self) -> State:
        return State(self.positions[-1].astype(float), None if self.box is None else self.box[-1].astype(float))
