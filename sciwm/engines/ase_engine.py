"""ASE adapter: Langevin dynamics (BAOAB) for every segment, with a hydrostatic Langevin-Hoover
barostat for segments with a pressure; VelocityVerlet when friction is 0 (NVE).

Units are converted here only: sciwm nm/ps/kJ mol^-1/bar <-> ASE Angstrom/eV/ASE time.
"""
from __future__ import annotations

import importlib
import time
import warnings

import ase
import numpy as np
from ase import Atoms, units
from ase.md.langevinbaoab import LangevinBAOAB
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet

import sciwm
from sciwm.engines.ase_lj import TruncatedLennardJones
from sciwm.engines.base import MDEngine, drive, host_info, now_iso
from sciwm.engines.trajectory import RunRecord, State, Trajectory
from sciwm.errors import InputError
from sciwm.protocol import Protocol
from sciwm.systems import AseCalculator, LennardJones, System

NM = 10.0  # Angstrom per nm
EV = units.mol / units.kJ  # kJ/mol per eV (96.485...)
PS = 1000.0 * units.fs  # ASE time units per ps
BAROSTAT_TAU_PS = 5.0  # cell fluctuation period and Langevin time of the barostat
CALCULATORS = {"emt": "ase.calculators.emt:EMT"}


def make_calculator(potential):
    """An ASE calculator for a sciwm potential: LennardJones, or AseCalculator by short name or
    'module:Class' (any importable ASE calculator)."""
    if isinstance(potential, LennardJones):
        return TruncatedLennardJones(potential.sigma_nm * NM, potential.epsilon_kj_mol / EV,
                                     potential.cutoff_nm * NM, potential.dispersion_correction)
    if not isinstance(potential, AseCalculator):
        raise InputError(f"the ASE engine cannot run a {type(potential).__name__} potential; use --engine openmm")
    target = CALCULATORS.get(potential.name, potential.name)
    module, _, cls = target.partition(":")
    try:
        return getattr(importlib.import_module(module), cls)(**dict(potential.kwargs))
    except (ImportError, AttributeError, ValueError, TypeError):
        raise InputError(f"unknown ASE calculator {potential.name!r}: use one of {', '.join(CALCULATORS)} "
                         f"or module:Class") from None


def to_atoms(system: System, state: State) -> Atoms:
    symbols = [a.element.symbol for a in system.topology.atoms]
    box = state.box if state.box is not None else system.box
    atoms = Atoms(symbols, positions=state.positions * NM, masses=system.masses,
                  cell=None if box is None else box * NM, pbc=system.periodic)
    if state.velocities is not None:
        atoms.set_velocities(state.velocities * NM / PS)
    return atoms


class _AseRunner:
    def __init__(self, atoms: Atoms, dt_ps: float, friction: float, rng: np.random.Generator):
        self.atoms, self.dt, self.friction, self.rng = atoms, dt_ps * PS, friction, rng
        self.dyn = None

    def set_conditions(self, segment) -> None:
        if self.friction == 0:
            if segment.pressure_bar is not None:
                raise InputError("the ASE engine has no barostat without a thermostat: use friction > 0 for NPT")
            self.dyn = VelocityVerlet(self.atoms, self.dt)
            return
        stress = None if segment.pressure_bar is None else -segment.pressure_bar * units.bar
        with warnings.catch_warnings():  # ASE announces its barostat-mass heuristic, which we use
            warnings.filterwarnings("ignore", message="Using heuristic P_mass")
            self.dyn = LangevinBAOAB(self.atoms, self.dt, temperature_K=segment.temperature_k, externalstress=stress,
                                     hydrostatic=stress is not None, T_tau=PS / self.friction,
                                     P_tau=None if stress is None else BAROSTAT_TAU_PS * PS, rng=self.rng)

    def step(self, n_steps: int) -> None:
        self.dyn.run(n_steps)

    def snapshot(self):
        a = self.atoms
        box = np.array(a.cell) / NM if all(a.pbc) else None
        return a.positions / NM, box, a.get_potential_energy() * EV, a.get_kinetic_energy() * EV


class AseEngine(MDEngine):
    """Reference MD with ASE and any ASE calculator (options: sciwm.engines.base.MDEngine);
    minimisation is LBFGS to fmax 0.05 eV/A."""

    name = "ase"

    def run(self, system: System, protocol: Protocol, *, save_every_ps: float, seed: int = 0,
            state: State | None = None, progress=None) -> Trajectory:
        t_start, start_time = time.perf_counter(), now_iso()
        dt, friction, minimize, steps, save_steps = self.settings(system, protocol, save_every_ps)
        atoms = to_atoms(system, state or State(system.positions, system.box))
        atoms.calc = make_calculator(system.potential)
        if minimize:
            from ase.optimize import LBFGS  # BFGS's dense 3N x 3N Hessian takes ~25x longer for 256 atoms
            LBFGS(atoms, logfile=None).run(fmax=0.05, steps=500)
        rng = np.random.default_rng(seed)
        first = protocol.segments[0]
        if state is None or state.velocities is None:
            thermalize_momenta(atoms, first.temperature_k, rng=rng)
            Stationary(atoms)
        runner = _AseRunner(atoms, dt, friction, rng)
        n_dof = 3 * len(atoms) - (3 if friction == 0 else 0)
        record = RunRecord(
            engine=self.name, engine_version=ase.__version__, platform="CPU (numpy)", precision="double",
            potential=system.potential.describe() if not isinstance(system.potential, LennardJones)
            else system.potential.describe() + " [sciwm TruncatedLennardJones]",
            integrator="VelocityVerlet" if friction == 0 else "LangevinBAOAB"
            + (" + Langevin-Hoover barostat" if protocol.has_pressure else ""),
            timestep_ps=dt, friction_per_ps=friction, seed=seed, system=system.describe(),
            protocol=protocol.to_json(), save_every_ps=save_every_ps, n_atoms=system.n_atoms, n_dof=n_dof,
            start_time=start_time, minimized=minimize, host=host_info(), sciwm_version=sciwm.__version__)
        return drive(runner, system, protocol, steps, save_steps, record, progress, self.equilibrate_ps, t_start)
