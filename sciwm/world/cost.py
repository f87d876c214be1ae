"""Ĉ, the cost model: the wall-clock seconds of a run, predicted from its description.

What is predicted: RunRecord.wall_seconds, from an engine's run() call to its return: set-up
(force objects, OpenMM Context or ASE calculator, minimisation), unsaved equilibration and every
MD step with its frame saving; not the process start, imports, building the System or writing the
file. For the emulator the same span: JIT compilation of the rollout is in, loading the model out.

Model: seconds = F + S * tau, with S the MD steps (production + equilibration; emulator: replicas
x jumps), F a fixed cost and tau the seconds per step, log F = c_f + w_f . phi_f(d) and
log tau = c_s + w_s . phi_s(d). Fixed-cost features: engine/platform, potential, a power law in
atoms per engine/platform, minimisation. Per-step features: engine/platform and potential, each
with its own power law in atoms, NPT per potential, implicit solvent, host cores (log), emulator
ODE steps per jump and replicas (log). Fit: maximum a posteriori in log seconds with Gaussian
noise (sd per engine/platform) and a N(0, PRIOR_SD^2) prior on the weights (nonlinear least
squares); uncertainty from the Laplace approximation. Prediction: log seconds ~
Student-t(mean, sigma^2 + g' Cov g), so `seconds` is the median and (low, high) the nominal 90%
interval. An engine/platform or potential the model never saw raises InputError (no guessing).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from sciwm.engines.trajectory import RunRecord
from sciwm.data.files import read_tagged_json, write_json_atomic
from sciwm.errors import InputError
from sciwm.protocol import Protocol, parse_protocol
from sciwm.systems import System, get_system

ASE_PLATFORM = "CPU (numpy)"  # what AseEngine writes as its platform
DEFAULT_SAMPLE_STEPS = 4  # ODE steps per emulator jump in the training presets
PRIOR_SD = 3.0  # prior sd of every weight, log units
SIGMA_MIN = 0.05  # floor on the noise sd, log units (5% run-to-run jitter at least)
NOISE_PSEUDO_RUNS = 3.0  # each backend's noise sd is shrunk towards the pooled one by this many runs


@dataclass(frozen=True)
class RunDescription:
    """What a run's cost depends on, known before running it.

    engine: 'openmm' | 'ase' | 'emulator'; platform: OpenMM platform, 'CPU (numpy)' (ASE) or
    'jax-<device>' (emulator). system: its name; potential: 'lj' | 'forcefield' | 'ase-<calculator>'
    | 'emulator'; solvent: 'vacuum' | 'implicit' | 'explicit' | 'none'. md_steps: production steps
    (emulator: replicas x jumps); equilibration_steps: unsaved steps before. ensemble: 'nvt' | 'npt'.
    n_cpus: host cores. replicas, jumps, sample_steps (ODE steps per jump): emulator only.
    """

    engine: str
    platform: str
    system: str
    potential: str
    solvent: str
    n_atoms: int
    md_steps: int
    equilibration_steps: int = 0
    ensemble: str = "nvt"
    minimize: bool = False
    n_cpus: int = 1
    replicas: int = 1
    jumps: int = 0
    sample_steps: int = 0

    @property
    def backend(self) -> str:
        return f"{self.engine}/{self.platform}"


def potential_kind(text: str) -> tuple[str, str]:
    """(potential, solvent) from a System.describe()['potential'] string."""
    if text.startswith("Lennard-Jones"):
        return "lj", "none"
    if text.startswith("ASE "):
        return "ase-" + text.split()[1], "none"
    if text.startswith("sciwm emulator"):
        return "emulator", "none"
    solvent = re.search(r"solvent=([\w-]+)", text)
    if solvent:
        return "forcefield", solvent.group(1).split("-")[0]
    return "other", "none"


def _platform(engine: str, platform: str) -> str:
    """The emulator logs 'jax 0.4.30 cpu x2'; its cost class is the device kind: 'jax-cpu'."""
    if engine == "emulator" and platform.startswith("jax "):
        return "jax-" + platform.split()[2]
    return platform


def describe_record(record: RunRecord) -> RunDescription:
    """The description of a logged run (engine, sizes, ensemble from its segments, host cores)."""
    kind, solvent = potential_kind(record.system.get("potential", record.potential))
    npt = any(s.pressure_bar is not None for s in record.segments) or any(
        p.get("pressure_bar") is not None for p in record.protocol)
    emulator = record.engine == "emulator"
    replicas = int(record.system.get("replicas", 1)) if emulator else 1
    sample = re.search(r"(\d+) steps per jump", record.integrator)
    return RunDescription(
        engine=record.engine, platform=_platform(record.engine, record.platform),
        system=str(record.system.get("name", "?")), potential=kind, solvent=solvent, n_atoms=int(record.n_atoms),
        md_steps=int(record.md_steps), equilibration_steps=int(record.equilibration_steps),
        ensemble="npt" if npt else "nvt", minimize=bool(record.minimized),
        n_cpus=int(record.host.get("cpu_count") or 1), replicas=replicas,
        jumps=record.md_steps // replicas if emulator else 0,
        sample_steps=int(sample.group(1)) if emulator and sample else 0)


def describe_request(system: str | System, protocol: Protocol | str, engine: str | None = None,
                     platform: str | None = None, n_atoms: int | None = None, timestep_ps: float | None = None,
                     save_every_ps: float | None = None, equilibrate_ps: float = 0.0, minimize: bool | None = None,
                     replicas: int = 1, sample_steps: int | None = None, n_cpus: int | None = None) -> RunDescription:
    """The description of a run not yet made, with the engines' own defaults: the system's engine,
    time step and minimisation, OpenMM's platform choice for this size here. Runs nothing.
    The emulator needs save_every_ps (its jump lag, ps); timestep_ps, save_every_ps in ps."""
    protocol = parse_protocol(protocol) if isinstance(protocol, str) else protocol
    if not isinstance(system, System):
        system = get_system(system, n_atoms=n_atoms)
    engine = engine or system.engines[0]
    kind, solvent = potential_kind(system.describe()["potential"])
    common = dict(system=system.name, n_atoms=system.n_atoms, ensemble="npt" if protocol.has_pressure else "nvt",
                  n_cpus=n_cpus or os.cpu_count() or 1)
    if engine == "emulator":
        if not save_every_ps or save_every_ps <= 0:
            raise InputError("the emulator's cost needs its jump lag: give the save interval")
        jumps = [round(s.duration_ps / save_every_ps) for s in protocol.segments]
        if any(n < 1 or abs(n * save_every_ps - s.duration_ps) > 1e-6 * s.duration_ps
               for n, s in zip(jumps, protocol.segments)):
            raise InputError(f"every segment must be a whole number of {save_every_ps:g} ps jumps")
        if replicas < 1:
            raise InputError(f"replicas must be at least 1, got {replicas}")
        import jax  # only the emulator's platform needs it
        return RunDescription("emulator", platform or f"jax-{jax.default_backend()}", potential="emulator",
                              solvent="none", md_steps=sum(jumps) * replicas, replicas=replicas, jumps=sum(jumps),
                              sample_steps=sample_steps or DEFAULT_SAMPLE_STEPS, **common)
    from sciwm.engines.base import check_run_request
    dt = timestep_ps or system.timestep_ps
    steps, _ = check_run_request(system, protocol, save_every_ps or dt, engine, dt)
    if engine == "openmm":
        from sciwm.engines.openmm_engine import default_platform
        platform = platform or default_platform(system.n_atoms)
    elif engine == "ase":
        platform = ASE_PLATFORM
    else:
        raise InputError(f"unknown engine {engine!r}: choose openmm, ase or emulator")
    return RunDescription(engine, platform, potential=kind, solvent=solvent, md_steps=sum(steps),
                          equilibration_steps=round(equilibrate_ps / dt),
                          minimize=system.minimize if minimize is None else minimize, **common)


class CostModel:
    """A fitted cost model; build it with CostModel.fit, fit_from_records or CostModel.load."""

    def __init__(self, state: dict):
        self.backends, self.potentials = list(state["backends"]), list(state["potentials"])
        self.centers, self.offsets = dict(state["centers"]), list(state["offsets"])
        self.weights, self.cov = np.asarray(state["weights"], float), np.asarray(state["cov"], float)
        self.sigma = {k: float(v) for k, v in state["sigma"].items()}  # noise sd per backend, log units
        self.dof, self.n_train = float(state["dof"]), int(state["n_train"])
        self.interval = float(state.get("interval", 0.9))

    def features(self, d: RunDescription) -> tuple[np.ndarray, np.ndarray, float]:
        """(phi_f, phi_s, log S) of one run; InputError for an engine/platform or potential never seen."""
        if d.backend not in self.backends:
            raise InputError(f"the cost model has no runs on {d.backend}; it knows {', '.join(self.backends)}")
        if d.potential not in self.potentials:
            raise InputError(f"the cost model has no runs with a {d.potential} potential; "
                             f"it knows {', '.join(self.potentials)}")
        if d.n_atoms < 1 or d.md_steps + d.equilibration_steps < 1:
            raise InputError(f"a run needs atoms and steps, got {d.n_atoms} atoms, {d.md_steps} steps")
        b = np.array([d.backend == x for x in self.backends], float)
        k = np.array([d.potential == x for x in self.potentials], float)
        size = np.log(d.n_atoms) - self.centers["log_atoms"]
        cpus = np.log(max(d.n_cpus, 1)) - self.centers["log_cpus"]
        npt = float(d.ensemble == "npt")
        fixed = np.concatenate([b, k, b * size, [float(d.minimize)]])
        emulator = [np.log(max(d.sample_steps, 1)), np.log(max(d.replicas, 1))]
        step = np.concatenate([b, b * size, k, k * size, k * npt, [d.solvent == "implicit", cpus, *emulator]])
        return fixed, step, float(np.log(d.md_steps + d.equilibration_steps))

    def _design(self, descs):
        rows = [self.features(d) for d in descs]
        return np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows]), np.array([r[2] for r in rows])

    def _forward(self, w, phi_f, phi_s, log_steps):
        """Log seconds (n,) and its gradient (n, n_weights) at weights w."""
        n_f = phi_f.shape[1]
        a = self.offsets[0] + phi_f @ w[:n_f]
        b = self.offsets[1] + phi_s @ w[n_f:] + log_steps
        share = special.expit(a - b)  # fraction of the time that is fixed cost
        return np.logaddexp(a, b), np.hstack([phi_f * share[:, None], phi_s * (1 - share)[:, None]])

    @classmethod
    def fit(cls, examples, interval: float = 0.9) -> "CostModel":
        """Fit on [(RunDescription, measured wall seconds), ...] (at least 3 runs); deterministic.
        Noise sd is estimated per engine/platform (their run-to-run scatter differs several-fold),
        shrunk towards the pooled sd by NOISE_PSEUDO_RUNS pseudo-runs."""
        examples = [(d, float(s)) for d, s in examples
                    if s > 0 and d.n_atoms > 0 and d.md_steps + d.equilibration_steps > 0]
        if len(examples) < 3:
            raise InputError(f"the cost model needs at least 3 runs with steps and a positive wall time, "
                             f"got {len(examples)}")
        descs = [d for d, _ in examples]
        y = np.log([s for _, s in examples])
        log_steps = np.log([d.md_steps + d.equilibration_steps for d in descs])
        backends = sorted({d.backend for d in descs})
        model = cls({"backends": backends, "potentials": sorted({d.potential for d in descs}),
                     "centers": {"log_atoms": float(np.mean(np.log([d.n_atoms for d in descs]))),
                                 "log_cpus": float(np.mean(np.log([max(d.n_cpus, 1) for d in descs])))},
                     "offsets": [float(np.median(y) - 1.0), float(np.median(y - log_steps))],
                     "weights": [], "cov": [], "sigma": {b: 0.3 for b in backends}, "dof": 1, "n_train": len(y),
                     "interval": interval})
        phi_f, phi_s, _ = model._design(descs)
        which = np.array([backends.index(d.backend) for d in descs])
        w = np.zeros(phi_f.shape[1] + phi_s.shape[1])
        prior = np.eye(len(w)) / PRIOR_SD
        for _ in range(5):  # alternate: weights at the current noise levels, then the noise levels
            sd = np.array([model.sigma[b] for b in backends])[which]
            w = optimize.least_squares(
                lambda v: np.concatenate([(model._forward(v, phi_f, phi_s, log_steps)[0] - y) / sd, v / PRIOR_SD]), w,
                jac=lambda v: np.vstack([model._forward(v, phi_f, phi_s, log_steps)[1] / sd[:, None], prior])).x
            pred, grad = model._forward(w, phi_f, phi_s, log_steps)
            model.cov = np.linalg.inv((grad / sd[:, None] ** 2).T @ grad + prior.T @ prior)
            free = 1 - np.einsum("ij,jk,ik->i", grad, model.cov, grad) / sd**2  # 1 - leverage of each run
            model.dof = max(float(free.sum()), 1.0)
            pooled_var = np.sum((pred - y) ** 2) / model.dof
            model.sigma = {b: max(float(np.sqrt((np.sum((pred - y)[which == i] ** 2) + NOISE_PSEUDO_RUNS * pooled_var)
                                                / (free[which == i].sum() + NOISE_PSEUDO_RUNS))), SIGMA_MIN)
                           for i, b in enumerate(backends)}
        model.weights = w
        return model

    def predict_log(self, d: RunDescription) -> tuple[float, float]:
        """Mean and sd of the predictive distribution of log wall seconds."""
        phi_f, phi_s, log_steps = self.features(d)
        mean, grad = self._forward(self.weights, phi_f[None], phi_s[None], np.array([log_steps]))
        return float(mean[0]), float(np.sqrt(self.sigma[d.backend] ** 2 + grad[0] @ self.cov @ grad[0]))

    def predict(self, d: RunDescription) -> tuple[float, float, float]:
        """(median, low, high) wall seconds; (low, high) is the nominal `interval` (90%) range."""
        mean, sd = self.predict_log(d)
        half = stats.t.ppf(0.5 + self.interval / 2, self.dof) * sd
        return float(np.exp(mean)), float(np.exp(mean - half)), float(np.exp(mean + half))

    def to_json(self) -> dict:
        return {"format": "sciwm-cost-model", "version": 1, "target": "RunRecord.wall_seconds",
                "backends": self.backends, "potentials": self.potentials, "centers": self.centers,
                "offsets": self.offsets, "weights": self.weights.tolist(), "cov": self.cov.tolist(),
                "sigma": self.sigma, "dof": self.dof, "n_train": self.n_train, "interval": self.interval}

    def save(self, path: str) -> None:
        """Write JSON atomically (sciwm.data.files)."""
        write_json_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: str) -> "CostModel":
        state = read_tagged_json(path, "sciwm-cost-model", "cost model")
        try:
            return cls(state)
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"corrupt cost model {path}: {exc}") from None


def evaluate(model: CostModel, examples) -> dict:
    """Held-out accuracy on [(RunDescription, seconds), ...]: mean absolute percentage error of the
    median prediction, and the fraction of runs inside the predicted interval (coverage)."""
    predictions = [model.predict(d) for d, _ in examples]
    seconds = np.array([s for _, s in examples], float)
    median = np.array([p[0] for p in predictions])
    inside = [p[1] <= s <= p[2] for p, s in zip(predictions, seconds)]
    return {"n": len(seconds), "mape": float(np.mean(np.abs(median - seconds) / seconds)),
            "coverage": float(np.mean(inside))}


def read_records(paths) -> list[RunRecord]:
    """Run records from trajectory files (.h5, the record only), JSON-lines logs (.jsonl, one
    record per line, as benchmarks/cost.py writes) and .json files (a record or a list)."""
    import tables

    from sciwm.data.store import RECORD_ATTR
    records = []
    for path in paths:
        if not os.path.isfile(path):
            raise InputError(f"no such file: {path}")
        if str(path).endswith((".jsonl", ".json")):
            try:
                with open(path) as f:
                    if str(path).endswith(".json"):
                        data = json.load(f)
                        items = data if isinstance(data, list) else [data]
                    else:
                        items = [json.loads(line) for line in f if line.strip()]
                records += [RunRecord.from_json(item) for item in items]
            except (ValueError, TypeError, KeyError) as exc:
                raise InputError(f"cannot read run records from {path}: {exc}") from None
            continue
        try:
            with tables.open_file(path, "r") as h5:
                text = h5.root._v_attrs[RECORD_ATTR] if RECORD_ATTR in h5.root._v_attrs else None
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"cannot read {path}: {reason}") from None
        if text is None:
            raise InputError(f"{path} has no sciwm run record")
        records.append(RunRecord.from_json(json.loads(text)))
    return records


def fit_from_records(records, interval: float = 0.9) -> CostModel:
    """Fit on logged runs: each record's description and its wall_seconds."""
    return CostModel.fit([(describe_record(r), r.wall_seconds) for r in records], interval)
