import mdtraj
import numpy as np
import pytest

from sciwm.errors import InputError
from sciwm.systems import ala2, get_system, lj


def test_ala2_is_l_alanine_with_standard_geometry():
    s = get_system("ala2")
    assert s.n_atoms == 22 and not s.periodic
    assert ala2.chirality(s.positions) < 0  # S configuration = L-alanine
    traj = mdtraj.Trajectory(s.positions[None], s.topology)
    assert np.degrees(mdtraj.compute_phi(traj)[1][0, 0]) == pytest.approx(-80.0, abs=1e-3)
    assert np.degrees(mdtraj.compute_psi(traj)[1][0, 0]) == pytest.approx(150.0, abs=1e-3)
    bonds = np.array([[b[0].index, b[1].index] for b in s.topology.bonds])
    lengths = mdtraj.compute_distances(traj, bonds)[0]
    assert len(bonds) == 21 and lengths.min() > 0.09 and lengths.max() < 0.16
    names = [(a.residue.name, a.name) for a in s.topology.atoms]
    assert names[:2] == [("ACE", "HH31"), ("ACE", "CH3")] and names[8] == ("ALA", "CA")


def test_lj_start_is_disordered_and_at_liquid_density():
    s = get_system("lj", n_atoms=256, seed=3)
    box = s.box[0, 0]
    assert s.options["reduced_density"] == pytest.approx(lj.DEFAULT_REDUCED_DENSITY)
    d = s.positions[:, None] - s.positions[None]
    d -= box * np.round(d / box)
    r = np.sqrt((d**2).sum(-1))
    np.fill_diagonal(r, np.inf)
    assert r.min() >= 0.85 * lj.SIGMA_NM - 1e-9
    # no crystal: the structure factor has no Bragg peak (a lattice of 256 atoms would give ~256)
    n = np.stack(np.meshgrid(*[np.arange(-8, 9)] * 3, indexing="ij"), -1).reshape(-1, 3)
    k = 2 * np.pi / box * n[np.abs(n).sum(1) > 0]
    structure_factor = np.abs(np.exp(1j * s.positions @ k.T).sum(0)) ** 2 / s.n_atoms
    assert structure_factor.max() < 15


def test_cu_fcc_counts():
    s = get_system("cu", n_atoms=32)
    assert s.n_atoms == 32 and s.engines == ("ase",)
    with pytest.raises(InputError, match="4\\*k\\^3"):
        get_system("cu", n_atoms=100)


@pytest.mark.parametrize("kwargs,match", [
    ({"name": "water-box"}, "unknown system"),
    ({"name": "lj", "n_atoms": 32}, "twice the cutoff"),
    ({"name": "ala2", "n_atoms": 10}, "apply to lj and cu"),
    ({"name": "missing.pdb", "forcefield": ("amber14-all.xml",)}, "no such structure file"),
])
def test_bad_systems(kwargs, match):
    with pytest.raises(InputError, match=match):
        get_system(**kwargs)
