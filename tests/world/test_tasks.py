"""The task distribution Ĝ: deterministic sampling, within the logged conditions, runnable tasks."""
import numpy as np
import pytest

from sciwm.data import read_trajectory, write_trajectory
from sciwm.engines import get_engine
from sciwm.errors import InputError
from sciwm.protocol import parse_protocol
from sciwm.systems import get_system
from sciwm.world.tasks import TaskDistribution

RUNS = [("ala2", None, "T=300K,t=2ps", 0.5), ("ala2", None, "T=350K,t=1ps; T=320K,t=1ps", 0.5),
        ("lj", 200, "T=100K,P=1bar,t=0.5ps", 0.1), ("lj", 200, "T=120K,P=100bar,t=0.5ps; T=110K,t=0.5ps", 0.1)]


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """Four short real OpenMM Reference runs written as trajectory files."""
    folder = tmp_path_factory.mktemp("logs")
    engine = get_engine("openmm", platform="Reference")
    paths = []
    for i, (name, n_atoms, protocol, save) in enumerate(RUNS):
        traj = engine.run(get_system(name, n_atoms=n_atoms), parse_protocol(protocol), save_every_ps=save, seed=i)
        paths.append(str(folder / f"run{i}.h5"))
        write_trajectory(traj, paths[-1])
    return paths


def _summary(tasks):
    return [(t.system, t.source, t.frame, str(t.protocol), t.save_every_ps, t.state.positions.tobytes()) for t in tasks]


def test_sampling_is_deterministic(logged):
    dist = TaskDistribution.fit(logged)
    a = dist.sample(np.random.default_rng(7), 12)
    b = dist.sample(np.random.default_rng(7), 12)
    assert _summary(a) == _summary(b)
    assert _summary(a) != _summary(dist.sample(np.random.default_rng(8), 12))


def test_samples_stay_within_observed_conditions(logged):
    tasks = TaskDistribution.fit(logged).sample(np.random.default_rng(0), 40, jitter=0.5)
    assert {t.system for t in tasks} == {"ala2", "lj"}
    for t in tasks:
        lo, hi = (300, 350) if t.system == "ala2" else (100, 120)
        assert all(lo <= s.temperature_k <= hi for s in t.protocol.segments)
        if t.system == "ala2":
            assert not t.protocol.has_pressure and t.state.box is None and t.options == {}
        else:
            assert all(1 <= s.pressure_bar <= 100 for s in t.protocol.segments if s.pressure_bar is not None)
            assert t.options == {"n_atoms": 200, "box_nm": pytest.approx(get_system("lj", n_atoms=200).box[0, 0])}
        frames = read_trajectory(t.source)
        assert 0 <= t.frame < frames.n_frames
        np.testing.assert_allclose(t.state.positions, frames.positions[t.frame])


def test_round_trip_and_a_sampled_task_runs(logged, tmp_path):
    dist = TaskDistribution.fit(logged)
    dist.save(str(tmp_path / "tasks.json"))
    again = TaskDistribution.load(str(tmp_path / "tasks.json"))
    assert _summary(again.sample(np.random.default_rng(3), 5)) == _summary(dist.sample(np.random.default_rng(3), 5))
    task = next(t for t in dist.sample(np.random.default_rng(3), 20) if t.system == "ala2")
    system = task.build_system()
    traj = get_engine(task.engine, platform="Reference").run(system, task.protocol, save_every_ps=task.save_every_ps,
                                                            state=task.state, seed=0)
    assert traj.n_frames == round(task.protocol.duration_ps / task.save_every_ps)


def test_errors(tmp_path, logged):
    with pytest.raises(InputError, match="no task distribution"):
        TaskDistribution.load(str(tmp_path / "none.json"))
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(InputError, match="corrupt"):
        TaskDistribution.load(str(tmp_path / "bad.json"))
    with pytest.raises(InputError, match="at least one"):
        TaskDistribution([])
    with pytest.raises(InputError):
        TaskDistribution.fit(logged).sample(np.random.default_rng(0), -1)
