"""The campaign loop on synthetic sources: crash-and-resume at every step boundary, no duplicate
reference runs, determinism under seeds, budget accounting, refusing another campaign's folder."""
import dataclasses
import multiprocessing
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from sciwm.agent.campaign import run_campaign
from sciwm.agent.ledger import LEDGER_NAME, Ledger
from sciwm.agent.report import best_so_far, write_report
from sciwm.agent.sources import InlineExecutor
from sciwm.errors import InputError
from tests.agent import synthetic

VOLATILE = ("created", "updated")


class Crash(Exception):
    """Stands in for the process dying."""


def rows(folder):
    db = sqlite3.connect(os.path.join(folder, LEDGER_NAME))
    cursor = db.execute("SELECT * FROM queries ORDER BY id")
    names = [d[0] for d in cursor.description]
    out = [{k: v for k, v in zip(names, row) if k not in VOLATILE} for row in cursor]
    stages = db.execute("SELECT round, stage FROM rounds ORDER BY round").fetchall()
    db.close()
    return out, stages


def campaign(folder, strategy, reference=None, world_model=None, on_step=None, config=None):
    reference = reference or synthetic.Reference()
    world_model = world_model or synthetic.WorldModel()
    return run_campaign(config or synthetic.config(), str(folder), reference, world_model, strategy=strategy,
                        executor=InlineExecutor(), on_step=on_step)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Ledger, stage list, boundary events and reference calls of each strategy run straight through."""
    out = {}
    for strategy in ("world_model", "bo_reference", "random"):
        folder, reference, events = tmp_path_factory.mktemp(strategy), synthetic.Reference(), []
        campaign(folder, strategy, reference, on_step=lambda *e: events.append(e))
        out[strategy] = (rows(folder), events, reference.calls)
        out[strategy + "_folder"] = str(folder)
    return out


@pytest.mark.parametrize("strategy", ["world_model", "bo_reference", "random"])
def test_crash_at_every_boundary_then_resume(tmp_path, uninterrupted, strategy):
    """Crash once at each boundary event in turn (resuming after each) -> the same ledger as an
    uninterrupted run and exactly the same reference runs: none lost, none repeated."""
    expected, events, calls = uninterrupted[strategy]
    boundaries = {name for name, _, _ in events}
    assert {"proposed", "queried", "complete", "reference_running", "reference_done", "ledger_updated"} <= boundaries
    if strategy == "world_model":
        assert {"imagined", "decided", "world_model_done", "refit_done"} <= boundaries
    seen, reference, world_model = set(), synthetic.Reference(), synthetic.WorldModel()

    def crash_once(*event):
        if event not in seen:
            seen.add(event)
            raise Crash(event)

    crashes = 0
    while True:
        try:
            campaign(tmp_path, strategy, reference, world_model, on_step=crash_once)
            break
        except Crash:
            crashes += 1
    assert crashes == len(set(events)) and seen == set(events)
    assert rows(tmp_path) == expected
    assert sorted(reference.calls) == sorted(calls) and len(set(reference.calls)) == len(calls)


def test_resume_completes_a_finished_run_from_its_file(tmp_path):
    """Between 'reference run done' and 'ledger updated': the file is there, so no re-run."""
    reference = synthetic.Reference()

    def crash(name, round_, query_id):
        if name == "reference_done" and query_id == 1:
            raise Crash

    with pytest.raises(Crash):
        campaign(tmp_path, "random", reference, on_step=crash)
    assert len(reference.calls) == 2  # the in-process executor ran the whole batch of 2
    ledger = Ledger(str(tmp_path / LEDGER_NAME))
    assert [q.status for q in ledger.queries()] == ["running", "running"]
    ledger.close()
    campaign(tmp_path, "random", reference)
    assert len(reference.calls) == 6 == len(set(reference.calls))


def _killed_run(folder):
    """Child process: run the campaign and die without any clean-up (os._exit, like kill -9) once
    query 3 has its result file but not yet its ledger update."""
    def die(name, round_, query_id):
        if name == "reference_done" and query_id == 3:
            os._exit(9)
    campaign(folder, "random", on_step=die)


def test_resume_after_hard_kill(tmp_path, uninterrupted):
    child = multiprocessing.get_context("spawn").Process(target=_killed_run, args=(str(tmp_path),))
    child.start()
    child.join(120)
    assert child.exitcode == 9
    reference = synthetic.Reference()
    campaign(tmp_path, "random", reference)
    (expected, _, calls) = uninterrupted["random"]
    assert rows(tmp_path) == expected
    assert len(reference.calls) == len(calls) - 4  # queries 1-4 had written their files before the kill


@pytest.mark.parametrize("strategy", ["world_model", "random"])
def test_deterministic_given_seed(tmp_path, uninterrupted, strategy):
    campaign(tmp_path / "a", strategy)
    assert rows(tmp_path / "a") == uninterrupted[strategy][0]
    other = dataclasses.replace(synthetic.config(), seed=4)
    campaign(tmp_path / "b", strategy, config=other)
    params = [r["params"] for r in rows(tmp_path / "b")[0]]
    assert params != [r["params"] for r in uninterrupted[strategy][0][0]]


@pytest.mark.parametrize("strategy", ["world_model", "bo_reference", "random"])
def test_budget_is_kept(tmp_path, strategy):
    """Reference seconds never exceed the budget by more than one query; the campaign stops."""
    config = synthetic.config(budget_seconds=70, rounds=20)
    result = campaign(tmp_path, strategy, config=config)
    ledger = Ledger(str(tmp_path / LEDGER_NAME))
    seconds = [q.seconds for q in ledger.queries(kind="reference")]
    assert result.spent_seconds == pytest.approx(sum(seconds))
    assert sum(seconds) <= 70 + max(seconds)
    assert result.rounds < 20 and "budget" in ledger.meta()["stopped"]
    ledger.close()


def test_world_model_rounds_skip_reference_when_confident(tmp_path):
    """Confident world model (std below threshold): reference only every `reference_every` rounds,
    and in round 0 (the space-filling design) only at the design point the world model rates best."""
    world_model = synthetic.WorldModel(std=1e-6)
    config = synthetic.config(rounds=3, reference_every=2, uncertainty_threshold=1e-3, initial_points=4)
    result = campaign(tmp_path, "world_model", world_model=world_model, config=config)
    ledger = Ledger(str(tmp_path / LEDGER_NAME))
    reference = ledger.queries(kind="reference")
    assert sorted({q.round for q in reference}) == [0, 2]
    assert result.world_model_runs == 8 and len(world_model.refits) == 2
    design = ledger.queries(kind="world_model", round_=0)
    (paid,) = [q for q in reference if q.round == 0]

    def excess(q):  # the synthetic world model's density misses the constraint by this much
        return max(0.0, abs(q.observables["density_g_cm3"] - 1.2) - 0.02)

    best = [q for q in design if excess(q) == 0] or [min(design, key=excess)]
    expected = max(best, key=lambda q: q.observables["diffusion_nm2_ps"] if excess(q) == 0 else -excess(q))
    assert paid.params == expected.params
    assert result.predicted_seconds == pytest.approx(result.spent_seconds)  # the cost model is exact here
    ledger.close()


def test_refuses_a_different_campaign(tmp_path):
    campaign(tmp_path, "random", config=synthetic.config(rounds=1))
    with pytest.raises(InputError, match="different campaign"):
        campaign(tmp_path, "random", config=synthetic.config(rounds=2))
    with pytest.raises(InputError, match="different campaign"):
        campaign(tmp_path, "bo_reference", config=synthetic.config(rounds=1))


def test_constrained_best_is_feasible(uninterrupted, tmp_path):
    result = campaign(tmp_path, "world_model")
    assert result.best_values is not None
    assert abs(result.best_values["density_g_cm3"] - 1.2) <= 0.02


def test_report_compares_the_three_strategies(tmp_path, uninterrupted):
    folders = {s: uninterrupted[s + "_folder"] for s in ("world_model", "bo_reference", "random")}
    path = write_report(folders, synthetic.config(), str(tmp_path))
    text = Path(path).read_text()
    assert all(f"| {s} |" in text for s in folders) and "subject to |density_g_cm3 - 1.2| <= 0.02" in text
    assert (tmp_path / "best_so_far.png").stat().st_size > 1000
    ledger = Ledger(os.path.join(folders["world_model"], LEDGER_NAME))
    seconds, best = best_so_far(synthetic.config().objective, ledger.queries())
    ledger.close()
    assert len(seconds) == 6 and all(seconds[1:] > seconds[:-1])
    finite = best[~np.isnan(best)]
    assert len(finite) and all(finite[1:] >= finite[:-1])  # maximising: the best never drops


def test_one_process_per_campaign_folder(tmp_path):
    holder = Ledger.open(str(tmp_path), {"config": "x", "strategy": "random"})
    try:
        with pytest.raises(InputError, match="in use by another running campaign"):
            campaign(tmp_path, "random")
    finally:
        holder.close()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / LEDGER_NAME).write_text("not a database, just text that is long enough to be read")
    with pytest.raises(InputError, match="not a campaign ledger"):
        campaign(tmp_path / "other", "random")
