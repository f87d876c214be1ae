"""`sciwm plan` end to end on real reference MD (OpenMM Reference, ala2, 2 ps queries): both
baselines, their report, a resume that runs nothing new, and argument errors before any compute."""
import argparse
import sqlite3

import mdtraj
import pytest
import yaml

from sciwm.cli import plan
from sciwm.errors import InputError

CONFIG = {
    "system": "ala2", "platform": "Reference",
    "parameters": {"temperature_K": [280, 400]},
    "objective": {"observable": "alpha_r_population", "mode": "target", "target": 0.2},
    "run": {"length_ps": 2, "save_every_ps": 0.1, "discard_fraction": 0.0},
    "campaign": {"budget_seconds": 60, "rounds": 1, "batch_size": 1, "initial_points": 2},
}


def parse(*argv):
    parser = argparse.ArgumentParser()
    plan.add_arguments(parser)
    return parser.parse_args(argv)


def test_plan_baselines_on_reference_md(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    out = tmp_path / "campaign"
    args = parse(str(config), "--out", str(out), "--no-world-model", "--strategy", "all")
    assert plan.run(args) == 0
    for strategy in ("bo_reference", "random"):
        db = sqlite3.connect(out / strategy / "ledger.sqlite")
        rows = db.execute("SELECT kind, status, result_path, seconds, value FROM queries").fetchall()
        assert len(rows) == 2 and all(r[0] == "reference" and r[1] == "done" for r in rows)
        for _, _, path, seconds, value in rows:
            assert mdtraj.load(str(out / strategy / path)).n_frames == 20
            assert seconds > 0 and 0.0 <= value <= 1.0
        db.close()
    report = (out / "report.md").read_text()
    assert "| bo_reference |" in report and "| random |" in report and (out / "best_so_far.png").stat().st_size > 0
    files = sorted(p.name for p in (out / "random" / "runs").iterdir())
    capsys.readouterr()
    assert plan.run(args) == 0  # resumes a finished campaign: nothing new
    assert sorted(p.name for p in (out / "random" / "runs").iterdir()) == files
    assert "2 reference runs" in capsys.readouterr().out
    config.write_text(yaml.safe_dump({**CONFIG, "seed": 1}))
    with pytest.raises(InputError, match="different campaign"):
        plan.run(args)


@pytest.mark.parametrize("argv, message", [
    (["--no-world-model", "--strategy", "world_model"], "contradicts"),
    ([], "needs --model"),
    (["--no-world-model", "--seed", "-1"], "must not be negative"),
])
def test_plan_argument_errors(tmp_path, argv, message):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    with pytest.raises(InputError, match=message):
        plan.run(parse(str(config), "--out", str(tmp_path / "out"), *argv))
    assert not (tmp_path / "out").exists()


def test_plan_bad_config_fails_before_compute(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "system": "water"}))
    with pytest.raises(InputError, match="unknown system 'water'"):
        plan.run(parse(str(config), "--out", str(tmp_path / "out"), "--no-world-model"))
    assert not (tmp_path / "out").exists()
