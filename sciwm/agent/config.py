"""Campaign configuration: one YAML file, validated in full before any compute.

    system: lj                      # built-in: lj, ala2, ala2-implicit, cu
    system_options: {n_atoms: 256}  # lj and cu only: n_atoms, box_nm (nm)
    engine: openmm                  # reference engine (default: the system's first)
    platform: null                  # OpenMM platform (default: the fastest here)
    parameters:                     # the intervention and its bounds [low, high]
      temperature_K: [90, 150]      # K, required
      pressure_bar: [1, 1000]       # bar, periodic systems only (NPT); absent means NVT
    objective: {observable: diffusion_nm2_ps, mode: maximise}   # mode target needs `target`
    constraints:                    # optional, each |observable - target| <= tolerance
      - {observable: density_g_cm3, target: 1.2, tolerance: 0.02}
    run: {length_ps: 20, save_every_ps: 0.2, equilibrate_ps: 0, discard_fraction: 0.25}
    campaign:
      budget_seconds: 600           # reference wall-clock seconds (> 0)
      rounds: 10                    # at most this many propose-query rounds
      batch_size: 2                 # proposals per round
      initial_points: 4             # space-filling (Sobol) design of round 0
      reference_every: 3            # world-model strategy: pay for reference when round % k == 0 (round 0:
      uncertainty_threshold: 0.01   #   its best-rated point only), or when its std of the objective exceeds this
      epsilon: null                 # target mode: stop once |y - target| <= epsilon
      acquisition: ei_per_cost      # ei_per_cost | ei | ucb
      ucb_beta: 2.0
    seed: 0
    description: free text

Unknown keys, unknown names and impossible values raise InputError.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import yaml

from sciwm.agent.objective import MODES, OBSERVABLES, Constraint, Objective
from sciwm.engines import ENGINES
from sciwm.errors import InputError
from sciwm.systems import BUILTIN

# What a campaign needs to know about each built-in system without building it (a test checks
# this table against sciwm.systems.get_system): periodic box?, engines, dipeptide?
SYSTEM_FACTS = {
    "lj": (True, ("openmm", "ase"), False),
    "ala2": (False, ("openmm",), True),
    "ala2-implicit": (False, ("openmm",), True),
    "cu": (True, ("ase",), False),
}
PARAMETERS = ("temperature_K", "pressure_bar")
ACQUISITIONS = ("ei_per_cost", "ei", "ucb")


@dataclass(frozen=True)
class Parameter:
    """One intervention parameter searched over [low, high] (units in the name)."""

    name: str
    low: float
    high: float


@dataclass(frozen=True)
class RunSpec:
    """Each reference query: one segment of length_ps at the proposed set-points."""

    length_ps: float = 20.0
    save_every_ps: float = 0.2
    equilibrate_ps: float = 0.0
    discard_fraction: float = 0.25  # frames before this fraction of the run are not measured


@dataclass(frozen=True)
class LoopSpec:
    budget_seconds: float = 600.0
    rounds: int = 10
    batch_size: int = 1
    initial_points: int = 4
    reference_every: int = 3
    uncertainty_threshold: float = 0.0
    epsilon: float | None = None
    acquisition: str = "ei_per_cost"
    ucb_beta: float = 2.0


@dataclass(frozen=True)
class CampaignConfig:
    system: str
    parameters: tuple[Parameter, ...]
    objective: Objective
    system_options: dict = field(default_factory=dict)
    engine: str = "openmm"
    platform: str | None = None
    run: RunSpec = RunSpec()
    campaign: LoopSpec = LoopSpec()
    seed: int = 0
    description: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): a campaign directory stores it and refuses another."""
        return json.dumps(asdict(self), sort_keys=True)


def load_config(path: str) -> CampaignConfig:
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise InputError(f"cannot read campaign config {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"campaign config {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return config_from_dict(data, where=path)


def config_from_dict(data, where: str = "config") -> CampaignConfig:
    top = _section(data, where, {"system", "system_options", "engine", "platform", "parameters", "objective",
                                 "constraints", "run", "campaign", "seed", "description"})
    system = top.get("system")
    if system not in SYSTEM_FACTS:
        raise InputError(f"{where}: unknown system {system!r}: choose one of {', '.join(BUILTIN)}")
    periodic, engines, dipeptide = SYSTEM_FACTS[system]
    options = _section(top.get("system_options", {}), "system_options", {"n_atoms", "box_nm"})
    if options and system not in ("lj", "cu"):
        raise InputError(f"{where}: system_options (n_atoms, box_nm) apply to lj and cu, not {system}")
    engine = top.get("engine", engines[0])
    if engine not in ENGINES or engine not in engines:
        raise InputError(f"{where}: system {system} runs on {' or '.join(engines)}, not engine {engine!r}")
    parameters = _parameters(top.get("parameters"), periodic)
    objective = _objective(top.get("objective"), top.get("constraints", []))
    for name in objective.observables:
        if name == "density_g_cm3" and not periodic:
            raise InputError(f"{where}: density_g_cm3 needs a periodic system, and {system} is not")
        if name == "density_g_cm3" and "pressure_bar" not in {p.name for p in parameters}:
            raise InputError(f"{where}: density only changes under pressure: add pressure_bar to parameters")
        if name == "alpha_r_population" and not dipeptide:
            raise InputError(f"{where}: alpha_r_population needs a dipeptide (ala2, ala2-implicit), not {system}")
    run = RunSpec(**_numbers(top.get("run", {}), "run", RunSpec()))
    if not (run.length_ps > 0 and run.save_every_ps > 0 and run.equilibrate_ps >= 0):
        raise InputError(f"{where}: run length and save interval must be positive, equilibration not negative")
    if run.save_every_ps * 4 > run.length_ps:
        raise InputError(f"{where}: a run of {run.length_ps:g} ps saved every {run.save_every_ps:g} ps "
                         f"has under 4 frames")
    if not 0 <= run.discard_fraction < 1:
        raise InputError(f"{where}: run.discard_fraction must be in [0, 1), got {run.discard_fraction:g}")
    loop = _loop(top.get("campaign", {}), objective)
    seed = top.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"{where}: seed must be a non-negative integer, got {seed!r}")
    return CampaignConfig(system=system, parameters=parameters, objective=objective, system_options=options,
                          engine=engine, platform=top.get("platform"), run=run, campaign=loop, seed=seed,
                          description=str(top.get("description", "")))


def _section(data, where: str, allowed: set[str]) -> dict:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping of keys to values, got {type(data).__name__}")
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}: expected some of {', '.join(sorted(allowed))}")
    return dict(data)


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _numbers(data, where: str, defaults) -> dict:
    """Fields of a dataclass section with the defaults' types (int, float, or float|None)."""
    values = _section(data, where, set(defaults.__dataclass_fields__))
    out = {}
    for key, value in values.items():
        default = getattr(defaults, key)
        if isinstance(default, str):
            out[key] = value
        elif isinstance(default, int) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(f"{where}.{key} must be an integer, got {value!r}")
            out[key] = value
        else:
            out[key] = None if value is None and default is None else _number(value, f"{where}.{key}")
    return out


def _parameters(data, periodic: bool) -> tuple[Parameter, ...]:
    items = _section(data if data is not None else {}, "parameters", set(PARAMETERS))
    if "temperature_K" not in items:
        raise InputError("parameters: temperature_K [low, high] is required")
    if "pressure_bar" in items and not periodic:
        raise InputError("parameters: pressure_bar needs a periodic system (NPT); this system is not periodic")
    out = []
    for name in PARAMETERS:
        if name not in items:
            continue
        bounds = items[name]
        if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
            raise InputError(f"parameters.{name}: bounds must be [low, high], got {bounds!r}")
        low, high = (_number(b, f"parameters.{name}") for b in bounds)
        if not low < high:
            raise InputError(f"parameters.{name}: empty bounds [{low:g}, {high:g}]: need low < high")
        if name == "temperature_K" and low <= 0:
            raise InputError(f"parameters.temperature_K: temperatures must be positive, got {low:g} K")
        out.append(Parameter(name, low, high))
    return tuple(out)


def _observable(name, where: str) -> str:
    if name not in OBSERVABLES:
        raise InputError(f"{where}: unknown observable {name!r}: choose one of {', '.join(OBSERVABLES)}")
    return name


def _objective(data, constraints) -> Objective:
    obj = _section(data if data is not None else {}, "objective", {"observable", "mode", "target"})
    name = _observable(obj.get("observable"), "objective")
    mode = obj.get("mode", "target" if "target" in obj else None)
    if mode not in MODES:
        raise InputError(f"objective: mode must be one of {', '.join(MODES)}, got {mode!r}")
    target = obj.get("target")
    if (mode == "target") != (target is not None):
        raise InputError("objective: mode target needs `target`, and only mode target takes one")
    if not isinstance(constraints, list):
        raise InputError("constraints: expected a list of {observable, target, tolerance}")
    parsed = []
    for i, c in enumerate(constraints):
        c = _section(c, f"constraints[{i}]", {"observable", "target", "tolerance"})
        tol = _number(c.get("tolerance"), f"constraints[{i}].tolerance")
        if tol <= 0:
            raise InputError(f"constraints[{i}].tolerance must be positive, got {tol:g}")
        parsed.append(Constraint(_observable(c.get("observable"), f"constraints[{i}]"),
                                 _number(c.get("target"), f"constraints[{i}].target"), tol))
    return Objective(name, mode, None if target is None else _number(target, "objective.target"), tuple(parsed))


def _loop(data, objective: Objective) -> LoopSpec:
    loop = LoopSpec(**_numbers(data, "campaign", LoopSpec()))
    if not loop.budget_seconds > 0:
        raise InputError(f"campaign.budget_seconds must be positive, got {loop.budget_seconds:g}")
    for key in ("rounds", "batch_size", "initial_points", "reference_every"):
        if getattr(loop, key) < 1:
            raise InputError(f"campaign.{key} must be at least 1, got {getattr(loop, key)}")
    if loop.uncertainty_threshold < 0 or loop.ucb_beta < 0:
        raise InputError("campaign.uncertainty_threshold and campaign.ucb_beta must not be negative")
    if loop.acquisition not in ACQUISITIONS:
        raise InputError(f"campaign.acquisition must be one of {', '.join(ACQUISITIONS)}, got {loop.acquisition!r}")
    if loop.epsilon is not None and (objective.mode != "target" or loop.epsilon < 0):
        raise InputError("campaign.epsilon (stop when |y - target| <= epsilon) needs mode target and epsilon >= 0")
    return loop
