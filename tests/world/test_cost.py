"""The cost model Ĉ: beats a constant on held-out runs, round trips, agrees with real records."""
import argparse
import json

import numpy as np
import pytest

from sciwm.cli import predict_cost
from sciwm.data import write_trajectory
from sciwm.engines import RunRecord, get_engine
from sciwm.errors import InputError
from sciwm.protocol import parse_protocol
from sciwm.systems import get_system
from sciwm.world.cost import (CostModel, RunDescription, describe_record, describe_request, evaluate,
                              fit_from_records, read_records)

# (engine, platform, potential, solvent, seconds per step per atom, size exponent, fixed seconds)
BACKENDS = [("openmm", "Reference", "lj", "none", 5e-6, 1.0, 0.05), ("openmm", "CPU", "lj", "none", 2e-6, 0.8, 0.1),
            ("ase", "CPU (numpy)", "ase-emt", "none", 6e-5, 1.0, 0.3),
            ("openmm", "Reference", "forcefield", "vacuum", 3e-7, 2.0, 0.15)]


def synthetic(rng, n):
    """Runs whose cost has the physical shape fixed + steps * a * N^b, with 10% log-normal noise."""
    out = []
    for _ in range(n):
        engine, platform, potential, solvent, a, b, fixed = BACKENDS[rng.integers(len(BACKENDS))]
        atoms = 22 if potential == "forcefield" else int(rng.choice([108, 256, 500, 864]))
        steps = int(np.exp(rng.uniform(np.log(100), np.log(1e5 if potential == "forcefield" else 3000))))
        npt = potential == "lj" and rng.random() < 0.3
        seconds = (fixed + steps * a * atoms**b * (1.1 if npt else 1.0)) * np.exp(rng.normal(0, 0.1))
        d = RunDescription(engine, platform, "x", potential, solvent, atoms, steps, ensemble="npt" if npt else "nvt",
                           n_cpus=2)
        out.append((d, float(seconds)))
    return out


@pytest.fixture(scope="module")
def real_records():
    """Real OpenMM Reference runs of ala2 (22 atoms, fast) over a spread of lengths."""
    engine, system = get_engine("openmm", platform="Reference"), get_system("ala2")
    return [engine.run(system, parse_protocol(f"T=300K,t={ps}ps"), save_every_ps=1.0, seed=0).record
            for ps in (1, 5, 20, 60, 150)]


def test_beats_constant_on_held_out(rng):
    runs = synthetic(rng, 80)
    train, test = runs[:56], runs[56:]
    model = CostModel.fit(train)
    scores = evaluate(model, test)
    constant = np.median([s for _, s in train])
    baseline = np.mean([abs(constant - s) / s for _, s in test])
    assert scores["mape"] < 0.25 and scores["mape"] < baseline / 3
    assert scores["coverage"] >= 0.7


def test_save_load_round_trip(tmp_path, rng):
    model = CostModel.fit(synthetic(rng, 30))
    model.save(str(tmp_path / "cost.json"))
    again = CostModel.load(str(tmp_path / "cost.json"))
    d = synthetic(rng, 1)[0][0]
    assert again.predict(d) == pytest.approx(model.predict(d), rel=1e-12)
    with pytest.raises(InputError, match="no cost model"):
        CostModel.load(str(tmp_path / "missing.json"))


def test_unseen_backend_is_an_input_error(rng):
    model = CostModel.fit(synthetic(rng, 30))
    with pytest.raises(InputError, match="openmm/CUDA"):
        model.predict(RunDescription("openmm", "CUDA", "lj", "lj", "none", 256, 1000))


def test_request_and_record_agree(real_records, tmp_path):
    record = real_records[0]
    request = describe_request("ala2", "T=300K,t=1ps", platform="Reference")
    assert request == describe_record(record)  # every field: md_steps 500, 22 atoms, minimised, nvt
    lj = get_system("lj", n_atoms=200)
    run = get_engine("openmm", equilibrate_ps=0.05).run(lj, parse_protocol("T=100K,P=1bar,t=0.1ps"),
                                                        save_every_ps=0.05, seed=0)
    assert describe_record(run.record) == describe_request(lj, "T=100K,P=1bar,t=0.1ps", equilibrate_ps=0.05)
    write_trajectory(run, str(tmp_path / "lj.h5"))
    log = tmp_path / "runs.jsonl"
    log.write_text(json.dumps(record.to_json()) + "\n")
    back = read_records([str(tmp_path / "lj.h5"), str(log)])
    assert [describe_record(r) for r in back] == [describe_record(run.record), describe_record(record)]


def test_fit_on_real_runs(real_records):
    model = fit_from_records(real_records[:-1])
    seconds, low, high = model.predict(describe_record(real_records[-1]))
    assert low <= seconds <= high and np.isfinite(high)
    assert low / 3 < real_records[-1].wall_seconds < high * 3  # loose: the CPU is shared while testing


def _args(model_dir, **kw):
    base = dict(model=str(model_dir), system="ala2", protocol="T=300K,t=10ps", n_atoms=None, engine=None,
                platform="Reference", save_every=None, replicas=1, equilibrate="0ps", json=True)
    return argparse.Namespace(**(base | kw))


def test_predict_cost_cli(real_records, tmp_path, capsys):
    fit_from_records(real_records).save(str(tmp_path / "cost.json"))
    assert predict_cost.run(_args(tmp_path)) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["low"] <= out["seconds"] <= out["high"] and out["md_steps"] == 5000
    assert predict_cost.run(_args(tmp_path, json=False)) == 0
    assert "interval" in capsys.readouterr().out
    with pytest.raises(InputError, match="cost.json"):
        predict_cost.run(_args(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="openmm/CUDA"):
        predict_cost.run(_args(tmp_path, platform="CUDA"))


def test_record_json_round_trip(real_records):
    record = real_records[1]
    assert describe_record(RunRecord.from_json(json.loads(json.dumps(record.to_json())))) == describe_record(record)
