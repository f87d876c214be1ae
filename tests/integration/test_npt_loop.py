"""Periodic NPT end to end: LJ reference runs at two pressures -> a few training steps -> emulation
under a pressure protocol. The model is conditioned on the volume, and the box moves with it."""
import mdtraj
import numpy as np
import pytest

from sciwm.bench.cache import ReferenceRun, ensure_runs
from sciwm.data import read_trajectory, write_trajectory
from sciwm.model.emulator import EmulatorEngine, system_from_trajectory
from sciwm.model.io import read_config
from sciwm.protocol import parse_protocol
from sciwm.train.presets import get_preset
from sciwm.train.trainer import train

N_ATOMS = 256  # the smallest box above twice the cut-off at 1000 bar needs ~200


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lj")
    specs = [ReferenceRun(str(folder / f"lj-{p}bar.h5"), "lj", f"T=100K,P={p}bar,t=20ps", seed, 1.0,
                          {"platform": "CPU"}, {"n_atoms": N_ATOMS})
             for seed, p in enumerate((1, 1000))]
    return ensure_runs(specs, processes=1)


@pytest.fixture(scope="module")
def model_dir(runs, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("model") / "m")
    train(runs, out, get_preset("debug"), progress=False)
    return out


def test_npt_model_knows_the_volume_of_its_data(runs, model_dir):
    config = read_config(model_dir)["model"]
    assert config.npt and config.periodic and config.box_strain
    trajs = [read_trajectory(p) for p in runs]
    train_frames = [t.select(slice(0, int(round(t.n_frames * 0.9)))) for t in trajs]  # the validation tenth is held out
    log_v = np.concatenate([np.log(np.linalg.det(t.box.astype(np.float64)) / N_ATOMS) for t in train_frames])
    assert config.log_volume_mean == pytest.approx(log_v.mean(), abs=1e-5)
    assert config.log_volume_std == pytest.approx(log_v.std() + 1e-4, rel=1e-4)
    assert log_v.std() > 0.02  # two pressures: the densities differ by ~15%


def test_emulated_box_moves_under_a_pressure_protocol(runs, model_dir, tmp_path):
    start = read_trajectory(runs[0])
    engine = EmulatorEngine(model_dir, replicas=2)
    emu = engine.run(system_from_trajectory(start, model_dir),
                     parse_protocol("T=100K,P=1bar,t=3ps; T=100K,P=1000bar,t=3ps"), save_every_ps=1.0, seed=0)
    assert emu.n_frames == 2 * 6 and np.all(np.isfinite(emu.positions))
    volumes = np.linalg.det(emu.box.astype(np.float64))
    assert np.all(volumes > 0) and np.ptp(volumes) > 0  # the model moves the volume
    np.testing.assert_array_equal(sorted(set(emu.setpoint_pressure)), [1.0, 1000.0])
    path = tmp_path / "emu.h5"
    write_trajectory(emu, str(path))
    md = mdtraj.load(str(path))
    assert md.n_atoms == N_ATOMS and md.unitcell_lengths.shape == (12, 3)
    np.testing.assert_allclose(md.unitcell_volumes, volumes, rtol=1e-5)


def test_nvt_segments_keep_the_box(runs, model_dir):
    """An NPT-trained model run at constant volume (no pressure in the segment) never moves the box."""
    start = read_trajectory(runs[1])
    emu = EmulatorEngine(model_dir, replicas=2).run(system_from_trajectory(start, model_dir),
                                                     parse_protocol("T=100K,t=3ps; T=100K,P=1000bar,t=3ps"),
                                                     save_every_ps=1.0, seed=0)
    nvt = np.isnan(emu.setpoint_pressure)
    assert nvt.sum() == 6
    np.testing.assert_array_equal(emu.box[nvt], np.broadcast_to(start.box[-1], emu.box[nvt].shape))
    assert np.ptp(np.linalg.det(emu.box[~nvt].astype(np.float64))) > 0  # the NPT segment still moves it
