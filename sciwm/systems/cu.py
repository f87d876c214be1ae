"""Periodic fcc copper, described by ASE's EMT potential (ASE engine only)."""
from __future__ import annotations

import mdtraj
import numpy as np

from sciwm.errors import InputError
from sciwm.systems._base import AseCalculator, System

LATTICE_NM = 0.361  # fcc Cu lattice constant at room temperature


def build(n_atoms: int = 108, box_nm: float | None = None, seed: int = 0) -> System:
    """n_atoms must be 4 k^3 (k x k x k cubic fcc cells); box_nm overrides the lattice constant
    so that the box side is box_nm."""
    k = round((n_atoms / 4) ** (1 / 3))
    if k < 1 or 4 * k**3 != n_atoms:
        raise InputError(f"cu needs 4*k^3 atoms (32, 108, 256, 500, ...), got {n_atoms}")
    a = LATTICE_NM if box_nm is None else box_nm / k
    basis = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    cells = np.stack(np.meshgrid(*[np.arange(k)] * 3, indexing="ij"), -1).reshape(-1, 3)
    positions = ((cells[:, None, :] + basis[None]) * a).reshape(-1, 3)
    top = mdtraj.Topology()
    chain = top.add_chain()
    copper = mdtraj.element.get_by_symbol("Cu")
    for i in range(n_atoms):
        top.add_atom("Cu", copper, top.add_residue("CU", chain, resSeq=i + 1))
    return System(
        name="cu",
        topology=top,
        positions=positions,
        box=np.eye(3) * a * k,
        potential=AseCalculator("emt"),
        engines=("ase",),
        timestep_ps=0.005,
        friction_per_ps=1.0,
        options={"box_nm": a * k, "lattice_nm": a},
    )
