"""Built-in systems (lj, ala2, ala2-implicit, cu) and the user's own structures."""
from __future__ import annotations

import os

from sciwm.errors import InputError
from sciwm.systems import ala2, cu, lj
from sciwm.systems._base import AseCalculator, ForceField, LearnedModel, LennardJones, Potential, System
from sciwm.systems.user import from_ase_file, from_pdb

BUILTIN = ("lj", "ala2", "ala2-implicit", "cu")

__all__ = ["BUILTIN", "AseCalculator", "ForceField", "LearnedModel", "LennardJones", "Potential", "System", "get_system"]


def get_system(name: str, *, n_atoms: int | None = None, box_nm: float | None = None,
               forcefield: tuple[str, ...] = (), calculator: str | None = None,
               engine: str | None = None, seed: int = 0) -> System:
    """Build a system by name or from a structure file.

    name: 'lj', 'ala2', 'ala2-implicit', 'cu', or a path (PDB for OpenMM; any ASE-readable file
    when engine='ase' or a calculator is given). n_atoms and box_nm (nm) apply to lj and cu.
    """
    if name in ("lj", "cu"):
        kwargs = {} if n_atoms is None else {"n_atoms": n_atoms}
        return (lj if name == "lj" else cu).build(box_nm=box_nm, seed=seed, **kwargs)
    if n_atoms is not None or box_nm is not None:
        raise InputError(f"--n-atoms and --box-nm apply to lj and cu, not {name}")
    if name in ("ala2", "ala2-implicit"):
        return ala2.build(implicit=name == "ala2-implicit")
    if os.path.splitext(name)[1] or os.sep in name:
        if calculator is not None or engine == "ase":
            return from_ase_file(name, calculator or "emt")
        if name.lower().endswith((".pdb", ".ent")):
            return from_pdb(name, tuple(forcefield))
        raise InputError(f"{name}: use a .pdb with --forcefield (OpenMM), or --engine ase --calculator NAME")
    raise InputError(f"unknown system {name!r}: choose one of {', '.join(BUILTIN)} or give a structure file")
