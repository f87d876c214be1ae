"""The user's own system: a PDB plus OpenMM force-field XMLs, or any ASE-readable structure
plus an ASE calculator name. Loading files is an adapter step, so openmm / ase are imported here."""
from __future__ import annotations

import os

import mdtraj
import numpy as np

from sciwm.errors import InputError
from sciwm.systems._base import AseCalculator, ForceField, System


def _check_file(path: str) -> None:
    if not os.path.isfile(path):
        raise InputError(f"no such structure file: {path}")


def from_pdb(path: str, forcefield: tuple[str, ...], timestep_ps: float = 0.002) -> System:
    """A PDB for OpenMM. Periodic when the PDB has a CRYST1 box (then PME nonbonded)."""
    import openmm.app as app
    import openmm.unit as u

    _check_file(path)
    if not forcefield:
        raise InputError(f"{path}: a PDB system needs --forcefield (e.g. amber14-all.xml)")
    try:
        with open(path) as handle:  # OpenMM leaves a file it opened itself open when the PDB is broken
            pdb = app.PDBFile(handle)
    except Exception as exc:  # OpenMM raises many types for broken PDBs
        raise InputError(f"malformed PDB {path}: {exc}".splitlines()[0]) from None
    if pdb.topology.getNumAtoms() == 0:
        raise InputError(f"malformed PDB {path}: no atoms")
    vectors = pdb.topology.getPeriodicBoxVectors()
    box = None if vectors is None else np.array(vectors.value_in_unit(u.nanometer))
    solvent = "explicit" if box is not None else ("implicit" if any("obc" in f or "gbn" in f for f in forcefield) else "vacuum")
    return System(
        name=os.path.basename(path),
        topology=mdtraj.Topology.from_openmm(pdb.topology),
        positions=np.array(pdb.getPositions(asNumpy=True).value_in_unit(u.nanometer)),
        box=box,
        potential=ForceField(tuple(forcefield), solvent=solvent),
        engines=("openmm",),
        timestep_ps=timestep_ps,
        minimize=True,
        options={"path": os.path.abspath(path)},
    )


def from_ase_file(path: str, calculator: str, timestep_ps: float = 0.001) -> System:
    """Any structure ase.io.read understands; periodic when all three cell directions are."""
    import ase.io

    _check_file(path)
    try:
        atoms = ase.io.read(path)
    except Exception as exc:
        raise InputError(f"cannot read structure {path}: {exc}".splitlines()[0]) from None
    if len(atoms) == 0:
        raise InputError(f"structure {path} has no atoms")
    if any(atoms.pbc) and not all(atoms.pbc):
        raise InputError(f"{path}: partially periodic cells are not supported")
    top = mdtraj.Topology()
    chain = top.add_chain()
    for i, symbol in enumerate(atoms.get_chemical_symbols()):
        top.add_atom(symbol, mdtraj.element.get_by_symbol(symbol), top.add_residue(symbol.upper(), chain, resSeq=i + 1))
    return System(
        name=os.path.basename(path),
        topology=top,
        positions=atoms.positions / 10.0,  # Angstrom -> nm
        box=np.array(atoms.cell) / 10.0 if all(atoms.pbc) else None,
        potential=AseCalculator(calculator),
        engines=("ase",),
        timestep_ps=timestep_ps,
        options={"path": os.path.abspath(path)},
    )
