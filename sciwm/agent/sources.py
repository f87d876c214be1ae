"""Where evaluations come from: reference MD and the world model behind one small interface, and
the executors that run reference queries.

A Source evaluates the campaign's observables (names in sciwm.agent.objective.OBSERVABLES) at
intervention parameters (a dict in physical units: temperature_K, pressure_bar) with a seed,
writing whatever it produces (a trajectory) atomically to result_path, and can re-read a result
from that file after a crash. A WorldModelSource adds the predicted cost of a reference run and a
refit hook for new reference data. Executors follow concurrent.futures.Executor.
"""
from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from sciwm.errors import SimulationError


@dataclass(frozen=True)
class Evaluation:
    """values: observable -> value (its units); stds: observable -> standard deviation (same
    units) or None when the source gives no uncertainty; seconds: wall-clock cost of the run."""

    values: dict[str, float]
    stds: dict[str, float] | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Failure:
    """A run that failed with a SimulationError after `seconds`."""

    error: str
    seconds: float


class Source(Protocol):
    def evaluate(self, params: dict[str, float], seed: int, result_path: str) -> Evaluation:
        """Run at params with seed; write the result atomically to result_path (absolute)."""
        ...

    def read(self, result_path: str) -> Evaluation:
        """The Evaluation of a finished run, from its file (used on resume after a crash)."""
        ...


class WorldModelSource(Source, Protocol):
    """The world model: evaluate() emulates (values with stds: the ensemble's spread, same units),
    in the campaign's own process (it may hold a model on an accelerator); plus the cost model and
    a refit hook. read() is only called if evaluate() wrote result_path before a crash."""

    def predict_cost(self, params: dict[str, float]) -> float:
        """Predicted wall seconds of a *reference* run at params (the cost model Ĉ)."""
        ...

    def refit(self, paths: list[str]) -> None:
        """Bring the model up to date with these reference trajectories (all so far, oldest first).
        Called again with the same list after a crash, so it must be idempotent; may be a no-op."""
        ...


def run_query(source: Source, params: dict, seed: int, result_path: str) -> Evaluation | Failure:
    """What an executor runs: source.evaluate, with a SimulationError turned into a Failure."""
    start = time.perf_counter()
    try:
        return source.evaluate(params, seed, result_path)
    except SimulationError as exc:
        return Failure(str(exc), time.perf_counter() - start)


class InlineExecutor(Executor):
    """Runs each task when it is submitted, in this process (tests; a batch of one)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


def local_executor(workers: int) -> Executor:
    """Local processes, at most one per core ('spawn': children start clean, without this process's
    JAX or OpenMM state); a single worker runs inline."""
    workers = max(1, min(workers, os.cpu_count() or 1))
    if workers == 1:
        return InlineExecutor()
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
