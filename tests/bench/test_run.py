"""`sciwm bench` end to end on the hidden 'tiny' preset: the files it promises, comparisons that
anyone can recompute from DIR/data/, and a re-run that reuses the cache."""
import argparse
import json
import os
import time

import mdtraj
import numpy as np
import pytest

from sciwm import analysis
from sciwm.bench import run
from sciwm.cli import bench as cli
from sciwm.data import read_trajectory
from sciwm.errors import InputError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REQUIRED = ("metric", "value", "reference", "emulated")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    t0 = time.perf_counter()
    metrics = run.run_bench("tiny", str(out), quiet=True)
    return out, metrics, time.perf_counter() - t0


def parse(argv):
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    return p.parse_args(argv)


def test_unknown_preset_lists_the_names(tmp_path):
    with pytest.raises(InputError, match="quick, ala2, lj, full"):
        cli.run(parse(["--preset", "huge", "--out", str(tmp_path / "b")]))
    assert not (tmp_path / "b").exists()


def test_unwritable_output_is_an_input_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="not a folder"):
        cli.run(parse(["--out", str(blocker)]))
    with pytest.raises(InputError, match="cannot write"):
        cli.check_output_dir(str(blocker / "below"))


def test_presets_are_frozen_and_keyed_by_their_settings():
    quick = run.get_bench_preset("quick")
    with pytest.raises(Exception):
        quick.budget_s = 1.0
    assert run.cache_key(quick) == run.cache_key(run.get_bench_preset("quick"))
    assert len({run.cache_key(run.get_bench_preset(n)) for n in run.PUBLIC}) == len(run.PUBLIC)
    for name in run.PUBLIC:
        preset = run.get_bench_preset(name)
        assert preset.ala2 is not None or preset.lj is not None
        for part in (preset.ala2, preset.lj):
            if part is not None:  # every condition's rollout is a whole number of jumps within the trained lags
                assert run._jumps(part) >= 1
                cfg = (run.ala2 if part is preset.ala2 else run.lj).train_config(part, preset.seed)
                assert min(cfg.lags_ps) <= part.lag_ps <= max(cfg.lags_ps)


def test_metrics_list_comparisons_with_files_that_load(tiny):
    out, metrics, _ = tiny
    comparisons = metrics["comparisons"]
    assert {c["metric"] for c in comparisons} >= {"jsd_phi_psi_2d", "jsd_phi_1d", "alpha_r_abs_error",
                                                   "transition_rate_ratio", "jsd_phi_psi_2d_equal_budget"}
    for c in comparisons:
        assert all(key in c for key in REQUIRED) and c["system"] == "ala2" and c["temperature_K"] > 0
        for key in ("reference", "emulated", "reference_repeat"):
            if c[key] is not None:
                assert c[key].startswith("data/") and mdtraj.load(str(out / c[key])).n_atoms == 22
    for key in ("machine", "versions", "seeds", "data_sizes", "stage_seconds", "speed", "uncertainty", "cost"):
        assert key in metrics
    assert metrics["machine"]["cpu_count"] == os.cpu_count()


def test_a_comparison_is_reproducible_from_its_files(tiny):
    out, metrics, _ = tiny
    c = next(c for c in metrics["comparisons"] if c["metric"] == "jsd_phi_psi_2d")
    ref = analysis.phi_psi(read_trajectory(str(out / c["reference"])))[::c["stride"]]
    emu = analysis.phi_psi(read_trajectory(str(out / c["emulated"])))
    repeat = analysis.phi_psi(read_trajectory(str(out / c["reference_repeat"])))[::c["stride"]]
    assert analysis.js_distance(emu, ref) == pytest.approx(c["value"])
    assert analysis.js_distance(repeat, ref) == pytest.approx(c["noise_floor"])


def test_report_names_the_machine_and_embeds_png_figures(tiny):
    out, metrics, _ = tiny
    text = (out / "report.md").read_text()
    assert os.uname().nodename in text and "noise floor" in text and "**MISS**" in text
    figures = [line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]
    assert len(figures) >= 6
    for rel in figures:
        assert (out / rel).read_bytes()[:8] == PNG_SIGNATURE
    assert not [p for p in out.rglob("*.tmp")]


def test_rerun_reuses_the_cache(tiny):
    out, _, first_seconds = tiny
    cached = sorted((out / "cache").rglob("*.h5"))
    before = {p: p.stat().st_mtime_ns for p in cached}
    t0 = time.perf_counter()
    metrics = run.run_bench("tiny", str(out), quiet=True)
    assert time.perf_counter() - t0 < 0.7 * first_seconds
    assert {p: p.stat().st_mtime_ns for p in cached} == before
    assert "world model" in json.dumps(metrics["stage_seconds"])
    assert np.isfinite(metrics["speed"]["ala2"]["emulator_ns_per_s"])
