"""Alanine dipeptide (ACE-ALA-NME, 22 atoms), built from internal coordinates.

Vacuum: Amber ff14SB (amber14-all.xml). Implicit solvent: Amber99SB-ILDN with OpenMM's built-in
OBC GBSAOBCForce (amber99sbildn.xml + amber99_obc.xml); measured ~5x faster than the custom-GB
implicit/obc2.xml. Both: HBonds constraints, no cut-off, 2 fs time step. L-alanine, atom order and
names as in the common ala2 PDB (ACE: HH31 CH3 HH32 HH33 C O; ALA: N H CA HA CB HB1 HB2 HB3 C O;
NME: N H C HH31 HH32 HH33). The start is an extended (beta) conformation, phi=-80, psi=150 deg.
"""
from __future__ import annotations

import mdtraj
import numpy as np

from sciwm.systems._base import ForceField, System

VACUUM = ForceField(("amber14-all.xml",), solvent="vacuum")
IMPLICIT = ForceField(("amber99sbildn.xml", "amber99_obc.xml"), solvent="implicit-obc")

# (residue, name, element)
ATOMS = [
    ("ACE", "HH31", "H"), ("ACE", "CH3", "C"), ("ACE", "HH32", "H"), ("ACE", "HH33", "H"),
    ("ACE", "C", "C"), ("ACE", "O", "O"),
    ("ALA", "N", "N"), ("ALA", "H", "H"), ("ALA", "CA", "C"), ("ALA", "HA", "H"), ("ALA", "CB", "C"),
    ("ALA", "HB1", "H"), ("ALA", "HB2", "H"), ("ALA", "HB3", "H"), ("ALA", "C", "C"), ("ALA", "O", "O"),
    ("NME", "N", "N"), ("NME", "H", "H"), ("NME", "C", "C"), ("NME", "HH31", "H"), ("NME", "HH32", "H"),
    ("NME", "HH33", "H"),
]
BONDS = [(0, 1), (1, 2), (1, 3), (1, 4), (4, 5), (4, 6), (6, 7), (6, 8), (8, 9), (8, 10), (10, 11),
         (10, 12), (10, 13), (8, 14), (14, 15), (14, 16), (16, 17), (16, 18), (18, 19), (18, 20), (18, 21)]


def _place(a, b, c, bond_nm, angle_deg, dihedral_deg):
    """Natural-extension reference frame: the point d with |cd| = bond, angle bcd, dihedral abcd."""
    angle, dihedral = np.radians(angle_deg), np.radians(dihedral_deg)
    bc = (c - b) / np.linalg.norm(c - b)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    m = np.cross(n, bc)
    d_local = bond_nm * np.array([-np.cos(angle), np.sin(angle) * np.cos(dihedral), np.sin(angle) * np.sin(dihedral)])
    return c + d_local[0] * bc + d_local[1] * m + d_local[2] * n


def chirality(positions: np.ndarray) -> float:
    """(N - CA) x (C - CA) . (HA - CA) of the alanine; negative for L-alanine (S configuration)."""
    n, ca, ha, c = positions[6], positions[8], positions[9], positions[14]
    return float(np.dot(np.cross(n - ca, c - ca), ha - ca))


def build_positions(phi_deg: float = -80.0, psi_deg: float = 150.0) -> np.ndarray:
    """(22, 3) nm from standard bond lengths and angles; omega trans, methyl groups staggered."""
    x = np.zeros((22, 3))
    x[1] = [0.0, 0.0, 0.0]                                   # ACE CH3
    x[4] = [0.152, 0.0, 0.0]                                 # ACE C
    x[6] = _place(np.array([0.0, 1.0, 0.0]), x[1], x[4], 0.1335, 116.6, 0.0)   # ALA N
    x[5] = _place(x[6], x[1], x[4], 0.1229, 120.5, 180.0)    # ACE O
    for i, dih in zip((0, 2, 3), (60.0, 180.0, 300.0)):      # ACE methyl H
        x[i] = _place(x[6], x[4], x[1], 0.109, 109.5, dih)
    x[8] = _place(x[1], x[4], x[6], 0.1458, 121.9, 180.0)    # ALA CA (omega trans)
    x[7] = _place(x[1], x[4], x[6], 0.101, 119.8, 0.0)       # ALA H
    x[14] = _place(x[4], x[6], x[8], 0.1525, 111.2, phi_deg)  # ALA C (phi)
    x[10] = _place(x[4], x[6], x[8], 0.153, 110.5, phi_deg - 120.0)  # CB
    x[9] = _place(x[4], x[6], x[8], 0.109, 109.5, phi_deg + 120.0)   # HA
    if chirality(x) > 0:  # D: swap CB and HA branches to get L
        x[10] = _place(x[4], x[6], x[8], 0.153, 110.5, phi_deg + 120.0)
        x[9] = _place(x[4], x[6], x[8], 0.109, 109.5, phi_deg - 120.0)
    for i, dih in zip((11, 12, 13), (60.0, 180.0, 300.0)):   # CB methyl H
        x[i] = _place(x[6], x[8], x[10], 0.109, 109.5, dih)
    x[16] = _place(x[6], x[8], x[14], 0.1335, 116.2, psi_deg)          # NME N (psi)
    x[15] = _place(x[6], x[8], x[14], 0.1229, 120.5, psi_deg + 180.0)  # ALA O
    x[18] = _place(x[8], x[14], x[16], 0.1449, 121.9, 180.0)           # NME C
    x[17] = _place(x[8], x[14], x[16], 0.101, 119.8, 0.0)              # NME H
    for i, dih in zip((19, 20, 21), (60.0, 180.0, 300.0)):  # NME methyl H
        x[i] = _place(x[14], x[16], x[18], 0.109, 109.5, dih)
    return x


def topology() -> mdtraj.Topology:
    top = mdtraj.Topology()
    chain = top.add_chain()
    residues = {}
    atoms = []
    for seq, (res, name, element) in enumerate(ATOMS):
        if res not in residues:
            residues[res] = top.add_residue(res, chain, resSeq=len(residues) + 1)
        atoms.append(top.add_atom(name, mdtraj.element.get_by_symbol(element), residues[res]))
    for i, j in BONDS:
        top.add_bond(atoms[i], atoms[j])
    return top


def build(implicit: bool = False) -> System:
    return System(
        name="ala2-implicit" if implicit else "ala2",
        topology=topology(),
        positions=build_positions(),
        box=None,
        potential=IMPLICIT if implicit else VACUUM,
        engines=("openmm",),
        timestep_ps=0.002,
        friction_per_ps=1.0,
        minimize=True,
    )
