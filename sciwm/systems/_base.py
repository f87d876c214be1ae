"""What a system is: topology, starting coordinates, box, and an engine-neutral potential.

Engines turn the potential description into their own force objects (OpenMM System, ASE
Calculator); nothing here imports an engine. Units: nm, ps, kJ/mol, K, dalton.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import mdtraj
import numpy as np

from sciwm.errors import InputError


@dataclass(frozen=True)
class LennardJones:
    """Pair potential 4 eps [(sigma/r)^12 - (sigma/r)^6], truncated (not shifted) at cutoff_nm,
    plus the analytic long-range dispersion correction for a homogeneous fluid."""

    sigma_nm: float
    epsilon_kj_mol: float
    cutoff_nm: float
    dispersion_correction: bool = True

    def describe(self) -> str:
        return (f"Lennard-Jones sigma={self.sigma_nm:g} nm, epsilon={self.epsilon_kj_mol:.6g} kJ/mol, "
                f"cutoff={self.cutoff_nm:.6g} nm (truncated, unshifted)"
                + (", analytic dispersion correction" if self.dispersion_correction else ""))


@dataclass(frozen=True)
class ForceField:
    """OpenMM force-field XML files; nonbonded NoCutoff (vacuum/implicit) or PME (periodic)."""

    files: tuple[str, ...]
    constraints: str | None = "HBonds"
    nonbonded_cutoff_nm: float = 1.0
    solvent: str = "vacuum"  # vacuum | implicit (OBC) | explicit

    def describe(self) -> str:
        return " + ".join(self.files) + f" (constraints={self.constraints}, solvent={self.solvent})"


@dataclass(frozen=True)
class AseCalculator:
    """An ASE calculator by name (see sciwm.engines.ase_engine.CALCULATORS) with keyword arguments."""

    name: str
    kwargs: tuple[tuple[str, object], ...] = ()

    def describe(self) -> str:
        return f"ASE {self.name}" + (f" {dict(self.kwargs)}" if self.kwargs else "")


@dataclass(frozen=True)
class LearnedModel:
    """A trained sciwm emulator (model directory); run by the emulator engine."""

    model_dir: str

    def describe(self) -> str:
        return f"sciwm emulator {self.model_dir}"


Potential = LennardJones | ForceField | AseCalculator | LearnedModel


@dataclass(frozen=True, eq=False)
class System:
    """A system ready to simulate.

    positions: (n_atoms, 3) nm, starting coordinates.
    box: (3, 3) nm box vectors as rows, or None for a non-periodic system.
    engines: engines that can run it; the first is the default.
    timestep_ps, friction_per_ps: integrator defaults chosen for this system.
    """

    name: str
    topology: mdtraj.Topology
    positions: np.ndarray
    box: np.ndarray | None
    potential: Potential
    engines: tuple[str, ...]
    timestep_ps: float
    friction_per_ps: float = 1.0
    minimize: bool = False
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.positions.shape != (self.topology.n_atoms, 3):
            raise InputError(f"{self.name}: positions {self.positions.shape} do not match "
                             f"{self.topology.n_atoms} atoms")
        if not np.all(np.isfinite(self.positions)):
            raise InputError(f"{self.name}: starting positions are not finite")

    @property
    def n_atoms(self) -> int:
        return self.topology.n_atoms

    @property
    def periodic(self) -> bool:
        return self.box is not None

    @property
    def masses(self) -> np.ndarray:
        """(n_atoms,) dalton."""
        return np.array([a.element.mass for a in self.topology.atoms], dtype=float)

    def describe(self) -> dict:
        return {"name": self.name, "n_atoms": self.n_atoms, "periodic": self.periodic,
                "potential": self.potential.describe(), **self.options}
