"""An ASE calculator for the Lennard-Jones fluid with OpenMM's conventions.

ASE's own LennardJones shifts every pair energy by -u(rc) and has no long-range correction;
OpenMM's NonbondedForce (CutoffPeriodic, no switching) truncates without shifting and adds the
analytic dispersion correction. This calculator reproduces OpenMM's Hamiltonian exactly:

    E = sum_{r_ij < rc} 4 eps [(s/r)^12 - (s/r)^6] + (8/3) pi N rho eps s^3 [(s/rc)^9 / 3 - (s/rc)^3]

The stress adds the standard virial tail, (16/3) pi rho^2 eps s^3 [2/3 (s/rc)^9 - (s/rc)^3], which
is the energy tail's volume derivative plus the impulsive term (2/3) pi rho^2 rc^3 u(rc) that a
truncated potential carries (mean-field g(rc) = 1); this is the pressure a Monte Carlo barostat on
the same Hamiltonian sees, so ASE and OpenMM NPT runs target the same state.
Units: ASE's (Angstrom, eV) at this boundary.
"""
from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.neighborlist import neighbor_list


def tail_energy(n_atoms: int, volume: float, sigma: float, epsilon: float, cutoff: float) -> float:
    rho = n_atoms / volume
    x = sigma / cutoff
    return 8.0 / 3.0 * np.pi * n_atoms * rho * epsilon * sigma**3 * (x**9 / 3.0 - x**3)


def tail_pressure(n_atoms: int, volume: float, sigma: float, epsilon: float, cutoff: float) -> float:
    rho = n_atoms / volume
    x = sigma / cutoff
    return 16.0 / 3.0 * np.pi * rho**2 * epsilon * sigma**3 * (2.0 / 3.0 * x**9 - x**3)


class TruncatedLennardJones(Calculator):
    """sigma (Angstrom), epsilon (eV), cutoff (Angstrom); periodic cells get the tail terms."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, sigma: float, epsilon: float, cutoff: float, dispersion_correction: bool = True):
        super().__init__()
        self.sigma, self.epsilon, self.cutoff = sigma, epsilon, cutoff
        self.dispersion_correction = dispersion_correction

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        i, d = self._pairs(atoms)
        r2 = (d**2).sum(1)
        s6 = (self.sigma**2 / r2) ** 3
        energy = 0.5 * np.sum(4.0 * self.epsilon * (s6**2 - s6))
        # force on i from j: -du/dr * (r_i - r_j)/r = 24 eps (2 s12 - s6) / r^2 * (-d)
        fscale = 24.0 * self.epsilon * (2.0 * s6**2 - s6) / r2
        forces = np.zeros((len(atoms), 3))
        np.add.at(forces, i, -fscale[:, None] * d)
        self.results["forces"] = forces
        if atoms.cell.rank == 3 and all(atoms.pbc):
            volume = atoms.get_volume()
            virial = -0.5 * np.einsum("p,pa,pb->ab", fscale, d, d)  # sum over pairs of r (x) f
            stress = virial / volume
            if self.dispersion_correction:
                energy += tail_energy(len(atoms), volume, self.sigma, self.epsilon, self.cutoff)
                stress -= np.eye(3) * tail_pressure(len(atoms), volume, self.sigma, self.epsilon, self.cutoff)
            self.results["stress"] = stress.flat[[0, 4, 8, 5, 2, 1]]
        self.results["energy"] = self.results["free_energy"] = energy

    def _pairs(self, atoms):
        """Pairs within the cut-off, both directions: (i, d) with d = r_j - r_i (Angstrom).
        Dense minimum image for orthorhombic boxes wider than twice the cut-off (fast for a few
        hundred atoms), ASE's neighbour list otherwise."""
        cell = np.array(atoms.cell)
        lengths = np.diag(cell)
        if all(atoms.pbc) and np.allclose(cell, np.diag(lengths)) and np.all(lengths > 2 * self.cutoff):
            x = atoms.positions
            d = x[None, :, :] - x[:, None, :]
            d -= lengths * np.round(d / lengths)
            r2 = (d**2).sum(-1)
            np.fill_diagonal(r2, np.inf)
            i, j = np.nonzero(r2 < self.cutoff**2)
            return i, d[i, j]
        i, _, d = neighbor_list("ijD", atoms, self.cutoff)
        return i, d
