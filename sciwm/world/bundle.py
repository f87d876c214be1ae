"""The world model W = (T-hat, R-hat, G-hat, C-hat) as one self-describing directory.

    MODEL_DIR/config.json, checkpoints/   T-hat: the dynamics ensemble (sciwm.train)
    MODEL_DIR/heads/                      R-hat: energy heads (sciwm.model.heads)
    MODEL_DIR/cost.json                   C-hat: the cost model (sciwm.world.cost)
    MODEL_DIR/tasks.json                  G-hat: the task distribution (sciwm.world.tasks)
    MODEL_DIR/world.json                  manifest: parts present, calibration of the intervals

`WorldModel.predict` runs a protocol on the emulator and returns an observable's estimate with a
predictive std. Two targets:
- "mean" (default): the observable's equilibrium value at the protocol's last condition; the std
  combines the ensemble members' disagreement with the rollout's own sampling error.
- "run": the value that one reference run of this protocol, from this start, would give over its
  last segment; every replica is one such run (replica r follows member r mod K), so the spread of
  the replicas holds the members' disagreement and the run-to-run scatter of a run this long; the
  std is that spread times sqrt(1 + 1/n) (a new draw, not the mean of n), plus, for energies
  scored by the R-hat heads, the per-frame energy they cannot resolve averaged over the run's
  frames (EnergyEnsemble.residual_std).
A per-observable, per-target calibration (offset and std scale) fitted on held-out reference data
(`calibrate`) corrects both.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass

import numpy as np
from scipy import stats

from sciwm.data import read_trajectory
from sciwm.data.files import read_json, write_json_atomic
from sciwm.engines.trajectory import Trajectory
from sciwm.errors import InputError
from sciwm.model.emulator import EmulatorEngine, system_from_trajectory
from sciwm.model.heads import EnergyEnsemble, fit_energy_heads
from sciwm.model.io import read_config, species_indices
from sciwm.protocol import Protocol
from sciwm.train.presets import TrainConfig
from sciwm.train.trainer import train
from sciwm.world import observables
from sciwm.world.cost import CostModel, fit_from_records, read_records
from sciwm.world.tasks import TaskDistribution

WORLD_FILE, HEADS_DIR, COST_FILE, TASKS_FILE = "world.json", "heads", "cost.json", "tasks.json"
TARGETS = ("mean", "run")


@dataclass
class Prediction:
    """An observable's predicted mean and predictive std (calibrated), the per-member estimates
    (per-replica for target "run"), the rollout's sampling error, the mean per-frame ensemble
    spread, the fraction of flagged frames, and the emulated trajectory with its wall seconds."""

    observable: str
    mean: float
    std: float
    members: np.ndarray
    sampling_error: float
    uncertainty: float
    flagged_fraction: float
    trajectory: Trajectory
    seconds: float

    def interval(self, level: float = 0.9) -> tuple[float, float]:
        half = stats.norm.ppf(0.5 + level / 2) * self.std
        return self.mean - half, self.mean + half


class WorldModel:
    def __init__(self, directory: str):
        path = os.path.join(directory, WORLD_FILE)
        if not os.path.isfile(path):
            raise InputError(f"{directory} is not a sciwm world model (no {WORLD_FILE}); build one with `sciwm train`")
        try:
            with open(path) as f:
                self.manifest = json.load(f)
        except ValueError as exc:
            raise InputError(f"corrupt {path}: {exc}") from None
        self.directory = directory
        self.saved = read_config(directory)
        self.heads = EnergyEnsemble.load(os.path.join(directory, HEADS_DIR)) if self.manifest.get("heads") else None
        self.cost = CostModel.load(os.path.join(directory, COST_FILE)) if self.manifest.get("cost") else None
        self.tasks = TaskDistribution.load(os.path.join(directory, TASKS_FILE)) if self.manifest.get("tasks") else None
        self.corrector = None  # a sciwm.model.corrector.Corrector for the emulator, opt-in
        self._engine = None

    @property
    def calibration(self) -> dict:
        return self.manifest.setdefault("calibration", {})

    def engine(self, replicas: int) -> EmulatorEngine:
        if self._engine is None:
            self._engine = EmulatorEngine(self.directory, replicas=replicas, corrector=self.corrector)
        self._engine.replicas = replicas
        return self._engine

    def emulate(self, start: Trajectory, protocol: Protocol, replicas: int = 4, seed: int = 0,
                save_every_ps: float | None = None) -> Trajectory:
        engine = self.engine(replicas)
        lag = save_every_ps or min(engine.config.lag_table_ps)
        return engine.run(system_from_trajectory(start, self.directory), protocol, save_every_ps=lag, seed=seed)

    def predict(self, observable: str, start: Trajectory, protocol: Protocol, replicas: int = 4, seed: int = 0,
                save_every_ps: float | None = None, target: str = "mean") -> Prediction:
        """Emulate `protocol` from start's last frame with `replicas` rollouts (replica r follows
        member r mod K) and predict `observable` over the last segment (target: module docstring)."""
        traj = self.emulate(start, protocol, replicas, seed, save_every_ps)
        return self.score(observable, traj, target)

    def score(self, observable: str, traj: Trajectory, target: str = "mean") -> Prediction:
        """Prediction of `observable` from an emulated trajectory's last segment (target: "mean" or
        "run", see the module docstring)."""
        if target not in TARGETS:
            raise InputError(f"unknown prediction target {target!r}; choose from {', '.join(TARGETS)}")
        last = traj.segment == traj.segment.max()
        part = traj.select(last)
        if observable in observables.PER_TRAJECTORY:
            if target == "run":
                raise InputError(f"{observable} has no per-run prediction (it is estimated from all replicas)")
            members, sem = observables.diffusion_estimates(part)
        else:
            values = observables.per_frame(observable, part, self.heads)  # scored once: heads are not cheap
            members = observables.member_estimates(values, part, by="member" if target == "mean" else "replica")
            sem = observables.sampling_error(values, part, population=observable == "alpha_r_population")
        n = int(np.sum(np.isfinite(members)))
        spread = float(np.nanstd(members, ddof=1)) if n > 1 else 0.0
        if target == "run":
            raw = spread * np.sqrt(1 + 1 / n) if n > 1 else np.nan
            if observable == "alpha_r_population" and n > 1:  # replicas all alike is no proof: Laplace floor
                raw = max(raw, observables.run_population_floor(values, part))
            if observable == "potential_energy_kj_mol" and not np.all(np.isfinite(part.potential_energy)):
                raw = float(np.hypot(raw, observables.head_noise_of_run(part, self.heads)))
        else:
            raw = float(np.hypot(spread, 0.0 if np.isnan(sem) else sem)) if n else np.nan
        offset, scale = calibration_of(self.calibration, calibration_key(observable, target))
        flagged = part.extra.get("flagged", np.zeros(part.n_frames))
        mean = float(np.nanmean(members)) if np.any(np.isfinite(members)) else np.nan  # all flagged: no estimate
        return Prediction(observable, mean + offset, scale * raw, members, sem,
                          float(np.nanmean(part.extra.get("uncertainty", np.full(1, np.nan)))),
                          float(np.mean(flagged != 0)) if part.n_frames else 1.0, traj, traj.record.wall_seconds)

    def calibrate(self, observable: str, predictions: list[Prediction], truths: list[float], level: float = 0.9,
                  target: str = "mean") -> dict:
        """Fit and save this observable's calibration on held-out reference values (see
        fit_calibration); later predictions for the same target use it."""
        key = calibration_key(observable, target)
        offset0, scale0 = calibration_of(self.calibration, key)
        means = np.array([p.mean - offset0 for p in predictions])
        raw = np.array([p.std / scale0 for p in predictions])
        fitted = fit_calibration(means, raw, np.asarray(truths, float), level)
        self.save_calibration({key: fitted})
        return fitted

    def save_calibration(self, fitted: dict) -> None:
        """Store {observable: {"offset", "scale"}} in the manifest (atomically)."""
        self.calibration.update(fitted)
        write_json_atomic(os.path.join(self.directory, WORLD_FILE), self.manifest)


def fit_calibration(means: np.ndarray, raw_stds: np.ndarray, truths: np.ndarray, level: float = 0.9) -> dict:
    """Recalibration of the ensemble's predictions on held-out reference values: an offset (the
    mean of truth - prediction: a bias the members share cannot show up as disagreement) and a
    scale for the std (the level-quantile of |residual| / raw std over the normal quantile), so that
    level intervals cover level of the calibration set."""
    offset = float(np.mean(truths - means)) if len(truths) > 1 else 0.0
    z = np.abs(truths - means - offset) / np.maximum(raw_stds, 1e-12)
    return {"offset": offset, "scale": float(np.quantile(z, level) / stats.norm.ppf(0.5 + level / 2))}


def calibration_key(observable: str, target: str = "mean") -> str:
    """Where a target's calibration is stored: the observable's name ("mean"), name@run ("run")."""
    return observable if target == "mean" else f"{observable}@{target}"


def calibration_of(calibration: dict, observable: str) -> tuple[float, float]:
    """(offset, std scale) of an observable; (0, 1) when it was never calibrated."""
    c = calibration.get(observable, {})
    return float(c.get("offset", 0.0)), float(c.get("scale", 1.0))


def build(data_paths: list[str], out_dir: str, cfg: TrainConfig, cost_records: tuple[str, ...] = (), progress: bool = True, log=sys.stderr) -> WorldModel:
    """Train (or resume) the dynamics ensemble, then fit the energy heads, the cost model (on the
    data's run records plus cost_records: .h5 or .jsonl) and the task distribution; write the
    manifest last, so a directory with world.json is complete. A complete directory built from the
    same data and settings is loaded as it is."""
    done = os.path.join(out_dir, WORLD_FILE)
    if os.path.exists(done) and read_json(done).get("data") == [os.path.abspath(p) for p in data_paths] \
            and read_config(out_dir).get("train") == json.loads(json.dumps(cfg.to_json())):
        return WorldModel(out_dir)  # complete already: nothing is read, trained or refitted again
    history = train(data_paths, out_dir, cfg, log=log, progress=progress)
    trajs = [read_trajectory(p) for p in data_paths]
    manifest = {"data": [os.path.abspath(p) for p in data_paths], "train_seconds": history["seconds"],
                "heads": False, "cost": False, "tasks": True, "calibration": {}}
    if all(np.all(np.isfinite(t.potential_energy)) for t in trajs):
        symbols = tuple(a.element.symbol for a in trajs[0].topology.atoms)
        species = tuple(sorted(set(symbols)))
        boxes = None if trajs[0].box is None else np.concatenate([t.box for t in trajs])
        heads = fit_energy_heads(np.concatenate([t.positions for t in trajs]), boxes,
                                 np.concatenate([t.setpoint_temperature for t in trajs]),
                                 np.concatenate([t.potential_energy for t in trajs]),
                                 species_indices(symbols, species), species, steps=cfg.head_steps, seed=cfg.seed,
                                 batch=16 if trajs[0].box is not None else 64)
        heads.save(os.path.join(out_dir, HEADS_DIR))
        manifest["heads"] = True
    records = read_records(list(data_paths) + list(cost_records))
    if len(records) >= 3:
        fit_from_records(records).save(os.path.join(out_dir, COST_FILE))
        manifest["cost"] = True
    else:
        print(f"note: {len(records)} run records - too few for a cost model (needs 3); "
              "pass more with --cost-records", file=log)
    TaskDistribution.fit(data_paths).save(os.path.join(out_dir, TASKS_FILE))
    write_json_atomic(os.path.join(out_dir, WORLD_FILE), manifest)
    return WorldModel(out_dir)
