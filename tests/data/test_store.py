import os

import mdtraj
import numpy as np
import pytest

from sciwm.data import read_trajectory, write_trajectory
from sciwm.engines.openmm_engine import OpenMMEngine
from sciwm.errors import InputError
from sciwm.protocol import parse_protocol
from sciwm.systems import get_system


@pytest.fixture(scope="module")
def lj_traj(lj_system):
    return OpenMMEngine(platform="Reference").run(
        lj_system, parse_protocol("T=100K,P=1bar,t=1ps; T=120K,t=1ps"), save_every_ps=0.25, seed=0)


def test_round_trip(lj_traj, tmp_path):
    path = tmp_path / "run.h5"
    lj_traj.extra["uncertainty"] = np.linspace(0, 1, lj_traj.n_frames)
    write_trajectory(lj_traj, str(path))
    back = read_trajectory(str(path))
    np.testing.assert_allclose(back.positions, lj_traj.positions, atol=0)  # float32 both sides
    np.testing.assert_allclose(back.box, lj_traj.box, rtol=1e-6)
    np.testing.assert_allclose(back.time_ps, lj_traj.time_ps, rtol=1e-6)
    for name in ("potential_energy", "kinetic_energy", "temperature"):
        np.testing.assert_allclose(getattr(back, name), getattr(lj_traj, name), rtol=1e-6)
    np.testing.assert_array_equal(back.setpoint_temperature, lj_traj.setpoint_temperature)
    np.testing.assert_array_equal(back.setpoint_pressure, lj_traj.setpoint_pressure)
    np.testing.assert_array_equal(back.segment, lj_traj.segment)
    np.testing.assert_array_equal(back.extra["uncertainty"], lj_traj.extra["uncertainty"])
    assert back.record == lj_traj.record
    assert [p.name for p in tmp_path.iterdir()] == ["run.h5"]  # no temporary left behind
    assert oct(os.stat(path).st_mode & 0o777) != oct(0o600)


def test_plain_mdtraj_reads_it(lj_traj, tmp_path):
    path = str(tmp_path / "run.h5")
    write_trajectory(lj_traj, path)
    md = mdtraj.load(path)
    assert md.n_frames == lj_traj.n_frames and md.n_atoms == 256
    np.testing.assert_allclose(md.unitcell_vectors, lj_traj.box, rtol=1e-6)
    assert md.topology.atom(0).element.symbol == "Ar"


def test_molecule_round_trip_keeps_topology(tmp_path):
    traj = OpenMMEngine().run(get_system("ala2"), parse_protocol("T=300K,t=1ps"), save_every_ps=0.5)
    path = str(tmp_path / "ala2.h5")
    write_trajectory(traj, path)
    back = read_trajectory(path)
    assert back.box is None and back.topology.n_bonds == 21
    assert [a.name for a in back.topology.atoms] == [a.name for a in traj.topology.atoms]


def test_failed_write_leaves_nothing(lj_traj, tmp_path):
    lj_traj_bad = type(lj_traj)(**{**lj_traj.__dict__, "extra": {"bad": np.zeros(1)}})
    with pytest.raises(ValueError, match="per-frame"):
        write_trajectory(lj_traj_bad, str(tmp_path / "bad.h5"))
    assert list(tmp_path.iterdir()) == []


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(InputError, match="no such"):
        read_trajectory(str(tmp_path / "absent.h5"))
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(InputError, match="cannot read"):
        read_trajectory(str(junk))
