"""The world-model bundle: build -> load round trip, ensemble = members one by one, validity flags
on forced blow-ups, uncertainty and flags in the emulated file and in `sciwm info`."""
import json

import jax
import numpy as np
import pytest

from sciwm.cli.main import main
from sciwm.bench.cache import ReferenceRun, ensure_runs
from sciwm.data import read_trajectory
from sciwm.errors import InputError, SimulationError
from sciwm.model.emulator import EmulatorEngine, system_from_trajectory
from sciwm.protocol import parse_protocol
from sciwm.train.presets import get_preset
from sciwm.world import observables
from sciwm.world.bundle import WorldModel, build
from sciwm.world.cost import describe_request


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ref")
    runs = [ReferenceRun(str(folder / f"ref{seed}.h5"), "ala2", protocol, seed)
            for seed, protocol in enumerate(["T=300K,t=30ps", "T=350K,t=30ps", "T=300K,t=20ps; T=330K,t=10ps"])]
    return ensure_runs(runs, processes=1)


@pytest.fixture(scope="module")
def world_dir(data, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("world") / "w")
    build(data, out, get_preset("debug", ensemble=2), progress=False)
    return out


def test_bundle_round_trip_and_predictions(data, world_dir):
    world = WorldModel(world_dir)
    assert world.manifest["heads"] and world.manifest["cost"] and world.manifest["tasks"]
    start = read_trajectory(data[0])
    a = world.predict("potential_energy_kj_mol", start, parse_protocol("T=300K,t=8ps"), replicas=2, seed=1)
    b = WorldModel(world_dir).predict("potential_energy_kj_mol", start, parse_protocol("T=300K,t=8ps"), replicas=2, seed=1)
    assert a.members.shape == (2,) and np.isfinite(a.mean) and a.std > 0
    assert a.mean == b.mean and a.std == b.std  # loaded again: same model, same numbers
    lo, hi = a.interval(0.9)
    assert lo < a.mean < hi
    fitted = world.calibrate("potential_energy_kj_mol", [a, b], [a.mean + 3 * a.std, b.mean + 1 * b.std])
    assert fitted["offset"] == pytest.approx(2 * a.std) and fitted["scale"] > 0
    assert WorldModel(world_dir).calibration["potential_energy_kj_mol"] == fitted
    again = WorldModel(world_dir).score("potential_energy_kj_mol", a.trajectory)
    assert again.mean == pytest.approx(a.mean + 2 * a.std) and again.std == pytest.approx(a.std * fitted["scale"])
    diffusion = world.score("diffusion_nm2_ps", a.trajectory)  # from each replica's jumps
    assert diffusion.members.shape == (2,) and np.all(diffusion.members > 0) and diffusion.std > 0
    seconds, low, high = world.cost.predict(describe_request("ala2", parse_protocol("T=300K,t=10ps")))
    assert 0 < low <= seconds <= high


def test_run_target_predicts_what_one_run_gives(data, world_dir):
    """target="run": every replica is one run; the prediction is their mean, its std their spread
    widened for a new draw, calibrated under its own key; populations get a Laplace floor."""
    world = WorldModel(world_dir)
    traj = world.emulate(read_trajectory(data[0]), parse_protocol("T=300K,t=6ps"), replicas=6, seed=3)
    values = observables.per_frame("potential_energy_kj_mol", traj, world.heads)
    per_run = np.array([values[traj.extra["replica"] == r].mean() for r in range(6)])
    p = world.score("potential_energy_kj_mol", traj, target="run")
    np.testing.assert_allclose(p.members, per_run, rtol=1e-6)
    assert p.mean == pytest.approx(per_run.mean(), rel=1e-6)
    # + what the heads cannot resolve per frame, averaged over each run's frames
    noise = world.heads.residual_std(300.0) / np.sqrt(traj.n_frames / 6)
    assert world.heads.residual_std(300.0) > 0
    assert p.std == pytest.approx(np.hypot(per_run.std(ddof=1) * np.sqrt(1 + 1 / 6), noise), rel=1e-5)
    assert p.std > world.score("potential_energy_kj_mol", traj).std / 10  # not the mean's error over 6 runs
    mean_calibration = world.calibration.get("potential_energy_kj_mol")  # (another test may have fitted one)
    fitted = world.calibrate("potential_energy_kj_mol", [p, p], [p.mean + 0.5, p.mean + 1.5], target="run")
    assert fitted["offset"] == pytest.approx(1.0) and fitted["scale"] > 0
    assert WorldModel(world_dir).calibration["potential_energy_kj_mol@run"] == fitted
    assert world.calibration.get("potential_energy_kj_mol") == mean_calibration  # the "mean" target's is its own
    assert world.score("potential_energy_kj_mol", traj, target="run").mean == pytest.approx(p.mean + 1.0)
    # 6 runs of F frames, none in alpha-R: spread 0, floor sqrt(p (1 - p) / F) with p = 1 / (6 F + 2)
    F = traj.n_frames / 6
    p0 = 1 / (traj.n_frames + 2)
    assert observables.run_population_floor(np.zeros(traj.n_frames), traj) == pytest.approx(np.sqrt(p0 * (1 - p0) / F))
    assert world.score("alpha_r_population", traj, target="run").std > 0
    with pytest.raises(InputError, match="unknown prediction target"):
        world.score("potential_energy_kj_mol", traj, target="window")
    with pytest.raises(InputError, match="no per-run prediction"):
        world.score("diffusion_nm2_ps", traj, target="run")


def test_ensemble_equals_members_one_by_one(data, world_dir):
    system = system_from_trajectory(read_trajectory(data[0]), world_dir)
    protocol = parse_protocol("T=300K,t=4ps")
    together = EmulatorEngine(world_dir, replicas=2).run(system, protocol, save_every_ps=1.0, seed=5)
    for k in range(2):
        alone = EmulatorEngine(world_dir, replicas=2)
        alone.params = jax.tree_util.tree_map(lambda p: p[k:k + 1], alone.params)
        alone.members = 1
        one = alone.run(system, protocol, save_every_ps=1.0, seed=5)
        mine = together.extra["replica"] == k
        np.testing.assert_allclose(one.positions[one.extra["replica"] == k], together.positions[mine], atol=2e-5)
    assert np.all(np.isfinite(together.extra["uncertainty"])) and np.all(together.extra["uncertainty"] > 0)


@pytest.mark.parametrize("factor", [2.0, 5.0, 1000.0])
def test_forced_blow_ups_are_all_flagged(data, world_dir, factor):
    """Weights scaled up (a wild, untrained-like model): every frame written is flagged, and
    replicas that go non-finite or explode are cut and named - or, if all do, the run fails."""
    engine = EmulatorEngine(world_dir, replicas=3)
    engine.params = jax.tree_util.tree_map(lambda p: p * factor, engine.params)
    system = system_from_trajectory(read_trajectory(data[0]), world_dir)
    try:
        traj = engine.run(system, parse_protocol("T=300K,t=6ps"), save_every_ps=2.0, seed=0)
    except SimulationError as exc:
        assert "blew up" in str(exc)
        return
    assert traj.n_frames > 0 and np.all(traj.extra["flagged"] != 0), traj.extra["flagged"]
    counts = traj.record.system["flagged_frames"]
    assert max(counts.values()) == traj.n_frames


def test_lags_outside_the_trained_range_are_refused(data, world_dir):
    engine = EmulatorEngine(world_dir)
    system = system_from_trajectory(read_trajectory(data[0]), world_dir)
    with pytest.raises(InputError, match="outside the trained range"):
        engine.run(system, parse_protocol("T=300K,t=1000ps"), save_every_ps=1000.0)


def test_emulate_writes_uncertainty_and_flags_and_info_reports_them(data, world_dir, tmp_path, capsys):
    out = str(tmp_path / "emu.h5")
    assert main(["emulate", "--model", world_dir, "--start", data[0], "--protocol", "T=300K,t=6ps",
                 "--replicas", "2", "--out", out, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["info", out, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert "uncertainty" in info and "flagged_frames" in info
    traj = read_trajectory(out)
    assert traj.extra["flagged"].dtype == np.uint8 and len(traj.extra["uncertainty"]) == traj.n_frames


def test_predict_cost_cli(world_dir, capsys):
    assert main(["predict-cost", "--model", world_dir, "--system", "ala2", "--protocol", "T=300K,t=100ps", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0 < out["low"] <= out["seconds"] <= out["high"]


def test_world_model_as_campaign_source(data, world_dir, tmp_path):
    from sciwm.agent.campaign import load_world_model_source
    from sciwm.agent.config import config_from_dict

    config = config_from_dict({
        "system": "ala2", "parameters": {"temperature_K": [280, 360]},
        "objective": {"observable": "alpha_r_population", "mode": "target", "target": 0.3},
        "run": {"length_ps": 8, "save_every_ps": 1, "equilibrate_ps": 2, "discard_fraction": 0.0},
        "campaign": {"budget_seconds": 10, "rounds": 2}})
    source = load_world_model_source(world_dir, config)
    result = str(tmp_path / "q.h5")
    first = source.evaluate({"temperature_K": 300.0}, 3, result)
    assert 0 <= first.values["alpha_r_population"] <= 1 and first.stds["alpha_r_population"] > 0
    # like a reference query: 2 ps of equilibration, then the 8 ps scored, over 2 replicas of 2-ps jumps
    emulated = read_trajectory(result)
    assert np.sum(emulated.segment == 0) == 2 and np.sum(emulated.segment == 1) == 4
    assert np.all(emulated.setpoint_temperature == 300.0)
    assert source.read(result).values == first.values
    assert source.predict_cost({"temperature_K": 300.0}) > 0
    source.refit(data[:2])
    offsets = dict(source.offsets)
    source.refit(data[:2])  # idempotent
    assert source.offsets == offsets and "alpha_r_population" in offsets
    with pytest.raises(InputError, match="needs --model"):
        load_world_model_source(None, config)


def test_all_flagged_frames_predict_nothing(data, world_dir):
    """A rollout whose every frame is flagged has no estimate: NaN mean and NaN std (an agent then
    treats it as uncertain), never a confident number."""
    world = WorldModel(world_dir)
    traj = world.emulate(read_trajectory(data[0]), parse_protocol("T=300K,t=4ps"), replicas=2, seed=2)
    traj.extra["flagged"] = np.ones(traj.n_frames, np.uint8)
    for name in ("alpha_r_population", "diffusion_nm2_ps"):
        p = world.score(name, traj)
        assert np.isnan(p.mean) and np.isnan(p.std)
