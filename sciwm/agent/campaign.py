"""The campaign loop: propose on the world model, decide whether to pay for reference MD, run it,
record it, refit, repeat; resumable after a crash at any point.

Strategies (one harness, one ledger format, one report):
  world_model:  GPs on reference data with the world model as low-fidelity prior mean
                (sciwm.agent.surrogate); proposals are evaluated on the world model, and the ones
                the decision rule picks go to reference MD; the world model is refitted on new data.
  bo_reference: GPs on reference data alone; every proposal goes to reference MD.
  random:       uniform random proposals, every one to reference MD.
Round r passes through stages (table `rounds`), each committed before the next action:
  proposed  round 0: a Sobol design of `initial_points`; later `batch_size` points maximising the
            acquisition (sciwm.agent.planner; random search: uniform draws). Rows of kind
            world_model (world_model strategy) or reference (baselines).
  imagined  (world_model) every proposal evaluated on the world model.
  decided   (world_model) a reference row for each proposal whose world-model std of the
            objective observable > uncertainty_threshold (no std, or a failed emulation: always),
            and for every proposal of a round r % reference_every == 0 — except round 0, whose
            space-filling design the world model stands in for: there only the proposal it rates
            best is paid for (the first reference result then recalibrates the world model).
  queried   every reference row of the round done or failed (run through the executor).
  complete  (world_model, if the round ran reference MD) refit on all reference results so far.
Budget (reference seconds = the sum of the runs' measured wall seconds, however many run at once):
a reference query is added only if measured seconds so far + the predictions of the
round's queries already added + its own prediction <= budget_seconds; one declined ends the
campaign after its round (once any reference run has been measured; before that the prediction
is unchecked, so the query is only skipped). Predictions: the world model's cost model for the world_model strategy
(rescaled by this campaign's median measured/predicted ratio), else the mean measured seconds so
far (0 before any). The campaign also stops after `rounds`,
once spent >= budget, or (target mode) once the best |y - target| <= epsilon.
Resume: finished rows are never redone; a 'running' row whose result file exists is completed
from the file (no re-run); one without a file never finished and runs again with its params and
seed. Randomness derives from (seed, round, slot) and each decision is a function of the ledger,
so a resumed campaign ends with the same ledger as an uninterrupted one. (A worker process still
running when its parent was killed may finish after the resume started the same query again:
the same params and seed, one file; stop orphans before resuming.)
Hook `on_step(boundary, round, query_id)`: after each stage commits (boundary = stage name), and
per query at '<kind>_running' (row marked running, run not started), '<kind>_done' (result in hand,
file written, ledger not yet updated), 'ledger_updated', and 'refit_done' (before 'complete').
"""
from __future__ import annotations

import os
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Callable

import numpy as np

from sciwm.agent import planner
from sciwm.agent.config import CampaignConfig
from sciwm.agent.ledger import Ledger, Query
from sciwm.agent.sources import Failure, InlineExecutor, Source, WorldModelSource, local_executor, run_query
from sciwm.errors import InputError

STRATEGIES = ("world_model", "bo_reference", "random")
Hook = Callable[[str, int, "int | None"], None]


@dataclass(frozen=True)
class CampaignResult:
    """Where a campaign ended: best feasible reference point (None if none) and its costs."""

    strategy: str
    rounds: int
    reference_runs: int
    world_model_runs: int
    spent_seconds: float
    predicted_seconds: float
    best_params: dict | None
    best_values: dict | None
    ledger_path: str


def load_world_model_source(model_dir: str | None, config: CampaignConfig) -> WorldModelSource:
    """The world model of MODEL_DIR (built by `sciwm train`) as a campaign Source."""
    if not model_dir:
        raise InputError("strategy world_model needs --model MODEL_DIR (build one with `sciwm train`), "
                         "or run with --no-world-model")
    from sciwm.agent.world_source import EmulatedSource
    return EmulatedSource(model_dir, config)


def run_campaign(config: CampaignConfig, out_dir: str, reference: Source, world_model: WorldModelSource | None = None,
                 strategy: str = "world_model", executor: Executor | None = None,
                 on_step: Hook | None = None) -> CampaignResult:
    """Run (or resume) a campaign in out_dir (ledger.sqlite, runs/); see the module docstring."""
    if strategy not in STRATEGIES:
        raise InputError(f"unknown strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    if strategy == "world_model" and world_model is None:
        raise InputError("strategy world_model needs a world model source")
    os.makedirs(os.path.join(out_dir, "runs"), exist_ok=True)
    ledger = Ledger.open(out_dir, {"config": config.to_json(), "strategy": strategy})
    own = executor is None
    executor = executor or local_executor(config.campaign.batch_size)
    try:
        _Campaign(config, out_dir, ledger, reference, world_model if strategy == "world_model" else None,
                  strategy, executor, on_step or (lambda *_: None)).run()
        return summarise(ledger, config, strategy)
    finally:
        if own:
            executor.shutdown()
        ledger.close()


def summarise(ledger: Ledger, config: CampaignConfig, strategy: str) -> CampaignResult:
    ref = ledger.queries(kind="reference")
    best = planner.best_query(config.objective, ref)
    last = ledger.last_round()
    return CampaignResult(strategy, 0 if last is None else last[0] + (last[1] == "complete"),
                          len(ref), len(ledger.queries(kind="world_model")), ledger.spent_seconds(),
                          sum(q.predicted_seconds or 0.0 for q in ref),
                          None if best is None else best.params, None if best is None else best.observables,
                          ledger.path)


class _Campaign:
    def __init__(self, config, out_dir, ledger: Ledger, reference, world_model, strategy, executor, hook):
        self.config, self.loop, self.objective = config, config.campaign, config.objective
        self.out_dir, self.ledger, self.reference, self.world_model = out_dir, ledger, reference, world_model
        self.strategy, self.executor, self.hook = strategy, executor, hook
        after_proposed = self.imagine if strategy == "world_model" else self.query
        self.steps = {None: self.propose, "proposed": after_proposed, "imagined": self.decide,
                      "decided": self.query, "queried": self.close}

    def run(self) -> None:
        last = self.ledger.last_round()
        r, stage = (0, None) if last is None else last
        while True:
            if stage == "complete":
                r, stage = r + 1, None
            if stage is None and self.finished(r):
                return
            stage = self.steps[stage](r)
            self.hook(stage, r, None)

    # ------------------------------------------------------------------ stages
    def propose(self, r: int) -> str:
        wm = self.world_model
        points = planner.propose(self.config, r, self.strategy, self.ledger.queries(kind="reference"),
                                 self.ledger.queries(kind="world_model") if wm is not None else [],
                                 wm.predict_cost if wm is not None else None)
        kind = "world_model" if wm is not None else "reference"
        committed = 0.0
        with self.ledger.transaction():
            for slot, x in enumerate(points):
                params = planner.to_params(x, self.config.parameters)
                predicted = self.predicted_cost(params)
                if kind == "reference" and not self.affordable(r, committed + predicted):
                    break
                committed += predicted
                seed = planner.derive_seed(self.config.seed, 0, r, slot)
                self.ledger.insert(r, slot, kind, params, seed, predicted)
            self.ledger.set_stage(r, "proposed")
        return "proposed"

    def imagine(self, r: int) -> str:
        self.evaluate(r, "world_model", self.world_model, inline=True)
        self.ledger.set_stage(r, "imagined")
        return "imagined"

    def decide(self, r: int) -> str:
        committed = 0.0
        rows = self.ledger.queries(kind="world_model", round_=r)
        if r == 0:  # the design: only the point the world model rates best
            periodic = {planner.most_promising(self.objective, rows).id} if rows else set()
        else:
            periodic = {q.id for q in rows} if r % self.loop.reference_every == 0 else set()
        with self.ledger.transaction():
            for q in rows:
                std = (q.stds or {}).get(self.objective.observable)  # a failed emulation: None
                uncertain = std is None or not np.isfinite(std) or std > self.loop.uncertainty_threshold
                if not (q.id in periodic or uncertain):
                    continue
                if not self.affordable(r, committed + q.predicted_seconds):
                    break
                committed += q.predicted_seconds
                self.ledger.insert(r, q.slot, "reference", q.params, q.seed, q.predicted_seconds)
            self.ledger.set_stage(r, "decided")
        return "decided"

    def query(self, r: int) -> str:
        self.evaluate(r, "reference", self.reference, inline=False)
        self.ledger.set_stage(r, "queried")
        return "queried"

    def close(self, r: int) -> str:
        if self.world_model is not None and self.ledger.queries(kind="reference", round_=r, status="done"):
            self.world_model.refit([self.path(q) for q in self.ledger.queries(kind="reference", status="done")])
            self.hook("refit_done", r, None)
        self.ledger.set_stage(r, "complete")
        return "complete"

    # ------------------------------------------------------------------ helpers
    def evaluate(self, r: int, kind: str, source: Source, inline: bool) -> None:
        """Run every unfinished row of this kind in round r; record the results in id order."""
        executor = InlineExecutor() if inline else self.executor
        pending = []
        for q in self.ledger.queries(kind=kind, round_=r):
            if q.status in ("done", "failed"):
                continue
            if q.status == "running" and os.path.exists(self.path(q)):
                pending.append((q, None))  # finished before a crash: read it back, do not re-run
                continue
            self.ledger.mark_running(q.id)
            self.hook(f"{kind}_running", r, q.id)
            pending.append((q, executor.submit(run_query, source, q.params, q.seed, self.path(q))))
        for q, future in pending:
            outcome = source.read(self.path(q)) if future is None else future.result()
            self.hook(f"{kind}_done", r, q.id)
            if isinstance(outcome, Failure):
                self.ledger.fail(q.id, outcome.error, outcome.seconds)
            else:
                name = self.objective.observable
                std = None if outcome.stds is None else outcome.stds.get(name)
                self.ledger.finish(q.id, outcome.values, outcome.stds, outcome.seconds, outcome.values.get(name), std)
            self.hook("ledger_updated", r, q.id)

    def path(self, q: Query) -> str:
        return os.path.join(self.out_dir, q.result_path)

    def finished(self, r: int) -> bool:
        if r >= self.loop.rounds or self.ledger.spent_seconds() >= self.loop.budget_seconds:
            return True
        if self.ledger.meta().get("stopped"):
            return True
        best = planner.best_query(self.objective, self.ledger.queries(kind="reference"))
        return self.loop.epsilon is not None and best is not None and \
            self.objective.loss(best.observables) <= self.loop.epsilon

    def affordable(self, r: int, predicted: float) -> bool:
        if self.ledger.spent_seconds() + predicted <= self.loop.budget_seconds:
            return True
        if any(q.seconds is not None for q in self.ledger.queries(kind="reference")):
            self.ledger.set_meta("stopped", f"budget: round {r} could not afford another reference query")
        # else: the cost model has not yet been checked against a run here; decline, don't stop
        return False

    def predicted_cost(self, params: dict) -> float:
        """Predicted reference seconds. With a world model: its cost model, rescaled by the median
        ratio of measured to predicted seconds of this campaign's finished reference runs (the
        cost model learns this machine's current speed from the campaign itself)."""
        done = [q for q in self.ledger.queries(kind="reference") if q.seconds is not None]
        if self.world_model is not None:
            ratios = [q.seconds / max(float(self.world_model.predict_cost(q.params)), 1e-9) for q in done]
            return float(self.world_model.predict_cost(params)) * (float(np.median(ratios)) if ratios else 1.0)
        return float(np.mean([q.seconds for q in done])) if done else 0.0
