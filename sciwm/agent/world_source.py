"""The world model as a campaign Source: virtual experiments on the emulator ensemble.

A query emulates from the last frame of the logged run whose set-points are nearest the proposal
(distance in units of each searched parameter's range), with one replica per ensemble member:
like a reference query, first `equilibrate_ps` (not scored) and then the query's total simulated
time split over the replicas; observables come with the ensemble's predictive std
(sciwm.world.bundle.WorldModel.score) — NaN mean and std when every frame is flagged.
predict_cost is the cost model C-hat on the reference run the campaign would make. refit(paths) recalibrates on the reference results so far: the
world model is run (deterministically) at each reference query's set-points, and its mean offset
from reference per observable is subtracted from later predictions, with the scatter of those
offsets added to the std. This is a refit of the calibration layer, not retraining of T-hat
(minutes per round on a laptop CPU); retraining is `sciwm train` on the campaign's runs/.
"""
from __future__ import annotations

import numpy as np

from sciwm.agent.config import CampaignConfig
from sciwm.agent.reference import ReferenceSource
from sciwm.agent.sources import Evaluation
from sciwm.data import read_trajectory, write_trajectory
from sciwm.errors import InputError
from sciwm.protocol import Protocol, Segment
from sciwm.world.bundle import WorldModel
from sciwm.world.cost import describe_request
from sciwm.world.observables import OBSERVABLES

REFIT_SEED = 10**6


class EmulatedSource:
    def __init__(self, model_dir: str, config: CampaignConfig):
        self.world, self.config = WorldModel(model_dir), config
        self.observables = tuple(n for n in config.objective.observables if n in OBSERVABLES)
        self.lag = min(self.world.saved["model"].lag_table_ps, key=lambda lag: abs(lag - 10.0))
        self.members = int(self.world.saved["train"].get("ensemble", 1))
        self.offsets: dict[str, tuple[float, float]] = {}
        self._starts = [read_trajectory(p) for p in self.world.manifest["data"]]
        self._refit_cache: dict[str, dict] = {}

    def _start(self, params: dict):
        def distance(traj) -> float:
            logged = {"temperature_K": float(traj.setpoint_temperature[-1]),
                      "pressure_bar": float(traj.setpoint_pressure[-1])}
            return sum(((logged[p.name] - params[p.name]) / (p.high - p.low)) ** 2 if np.isfinite(logged[p.name])
                       else 1.0 for p in self.config.parameters)

        return min(self._starts, key=distance).select(slice(-1, None))

    def _emulate(self, params: dict, seed: int):
        run = self.config.run
        T, P = float(params["temperature_K"]), params.get("pressure_bar")
        per_replica = max(self.lag, round(run.length_ps / self.members / self.lag) * self.lag)
        segments = (Segment(T, P, per_replica),)
        if run.equilibrate_ps > 0:
            segments = (Segment(T, P, max(self.lag, round(run.equilibrate_ps / self.lag) * self.lag)),) + segments
        return self.world.emulate(self._start(params), Protocol(segments), replicas=self.members,
                                  seed=seed, save_every_ps=self.lag)

    def _score(self, traj) -> tuple[dict, dict]:
        values, stds = {}, {}
        for name in self.observables:
            p = self.world.score(name, traj)
            offset, scatter = self.offsets.get(name, (0.0, 0.0))
            values[name], stds[name] = p.mean - offset, float(np.hypot(p.std, scatter))
        return values, stds

    def evaluate(self, params: dict[str, float], seed: int, result_path: str) -> Evaluation:
        traj = self._emulate(params, seed)
        write_trajectory(traj, result_path)
        values, stds = self._score(traj)
        return Evaluation(values, stds, traj.record.wall_seconds)

    def read(self, result_path: str) -> Evaluation:
        traj = read_trajectory(result_path)
        values, stds = self._score(traj)
        return Evaluation(values, stds, traj.record.wall_seconds)

    def predict_cost(self, params: dict[str, float]) -> float:
        if self.world.cost is None:
            raise InputError("the world model has no cost model (it was built from fewer than 3 runs)")
        run = self.config.run
        segment = Segment(float(params["temperature_K"]), params.get("pressure_bar"), run.length_ps)
        request = describe_request(self.config.system, Protocol((segment,)), engine=self.config.engine,
                                   platform=self.config.platform, save_every_ps=run.save_every_ps,
                                   equilibrate_ps=run.equilibrate_ps,
                                   n_atoms=self.config.system_options.get("n_atoms"))
        return self.world.cost.predict(request)[0]

    def refit(self, paths: list[str]) -> None:
        measure = ReferenceSource.from_config(self.config)
        pairs = {name: [] for name in self.observables}
        for path in paths:
            if path not in self._refit_cache:
                ref = read_trajectory(path)
                params = {"temperature_K": float(ref.setpoint_temperature[0])}
                if np.isfinite(ref.setpoint_pressure[0]):
                    params["pressure_bar"] = float(ref.setpoint_pressure[0])
                truth = measure.read(path).values
                emulated = {n: self.world.score(n, self._emulate(params, REFIT_SEED)).mean for n in self.observables}
                self._refit_cache[path] = {n: emulated[n] - truth[n] for n in self.observables
                                           if n in truth and np.isfinite(emulated[n])}  # NaN: all frames flagged
            for name, diff in self._refit_cache[path].items():
                pairs[name].append(diff)
        self.offsets = {n: (float(np.mean(d)), float(np.std(d, ddof=1)) if len(d) > 1 else 0.0)
                        for n, d in pairs.items() if d}
