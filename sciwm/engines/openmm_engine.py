"""OpenMM adapter: LangevinMiddleIntegrator, MonteCarloBarostat for segments with a pressure.

Temperature and pressure change between segments inside one Context; segments without a pressure
switch the barostat off (frequency 0). Units are converted here and nowhere else (OpenMM's native
units are sciwm's, so conversion is only stripping openmm.unit).
"""
from __future__ import annotations

import time

import numpy as np
import openmm
import openmm.app as app
import openmm.unit as u

import sciwm
from sciwm.engines.base import MDEngine, drive, host_info, now_iso
from sciwm.engines.trajectory import RunRecord, State, Trajectory
from sciwm.errors import InputError, SimulationError
from sciwm.protocol import Protocol
from sciwm.systems import ForceField, LennardJones, System

BAROSTAT_FREQUENCY = 25  # MD steps between Monte Carlo volume moves
SMALL_SYSTEM_ATOMS = 200  # below this the Reference platform beats CPU (launch overhead dominates)


def available_platforms() -> list[str]:
    return [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]


def default_platform(n_atoms: int) -> str:
    """Fastest platform here: a GPU platform when present, Reference for small systems, else CPU."""
    names = available_platforms()
    for gpu in ("CUDA", "HIP", "OpenCL"):
        if gpu in names and n_atoms >= SMALL_SYSTEM_ATOMS:
            return gpu
    return "Reference" if n_atoms < SMALL_SYSTEM_ATOMS or "CPU" not in names else "CPU"


def lennard_jones_system(system: System, lj: LennardJones) -> openmm.System:
    omm = openmm.System()
    nb = openmm.NonbondedForce()
    nb.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
    nb.setCutoffDistance(lj.cutoff_nm)
    nb.setUseSwitchingFunction(False)  # truncated, not shifted or switched
    nb.setUseDispersionCorrection(lj.dispersion_correction)
    for mass in system.masses:
        omm.addParticle(mass)
        nb.addParticle(0.0, lj.sigma_nm, lj.epsilon_kj_mol)
    omm.addForce(nb)
    omm.addForce(openmm.CMMotionRemover())
    return omm


def forcefield_system(system: System, ff: ForceField) -> openmm.System:
    try:
        forcefield = app.ForceField(*ff.files)
    except (ValueError, OSError, Exception) as exc:
        raise InputError(f"unknown force field {' '.join(ff.files)}: {str(exc).splitlines()[0]}") from None
    topology = system.topology.to_openmm()
    kwargs = {"constraints": getattr(app, ff.constraints) if ff.constraints else None}
    if system.periodic:
        topology.setPeriodicBoxVectors(system.box * u.nanometer)
        kwargs.update(nonbondedMethod=app.PME, nonbondedCutoff=ff.nonbonded_cutoff_nm * u.nanometer)
    else:
        kwargs.update(nonbondedMethod=app.NoCutoff)
    try:
        return forcefield.createSystem(topology, **kwargs)
    except ValueError as exc:
        raise InputError(f"force field {' + '.join(ff.files)} cannot describe {system.name}: "
                         f"{str(exc).splitlines()[0]}") from None


def build_openmm_system(system: System) -> openmm.System:
    if isinstance(system.potential, LennardJones):
        omm = lennard_jones_system(system, system.potential)
    elif isinstance(system.potential, ForceField):
        omm = forcefield_system(system, system.potential)
    else:
        raise InputError(f"system {system.name!r} has a {type(system.potential).__name__} potential; "
                         f"the OpenMM engine needs a force field or Lennard-Jones")
    if system.periodic:
        omm.setDefaultPeriodicBoxVectors(*[openmm.Vec3(*row) for row in system.box])
    return omm


def degrees_of_freedom(omm: openmm.System) -> int:
    n = sum(3 for i in range(omm.getNumParticles()) if omm.getParticleMass(i).value_in_unit(u.dalton) > 0)
    n -= omm.getNumConstraints()
    if any(isinstance(f, openmm.CMMotionRemover) for f in omm.getForces()):
        n -= 3
    return n


def _precision(platform: openmm.Platform, context: openmm.Context) -> str:
    if "Precision" in platform.getPropertyNames():
        return platform.getPropertyValue(context, "Precision")
    return {"Reference": "double", "CPU": "mixed"}.get(platform.getName(), "unknown")


class _OpenMMRunner:
    def __init__(self, context: openmm.Context, integrator, barostat, periodic: bool):
        self.context, self.integrator, self.barostat, self.periodic = context, integrator, barostat, periodic

    def set_conditions(self, segment) -> None:
        self.integrator.setTemperature(segment.temperature_k)
        if self.barostat is None:
            return
        frequency = 0 if segment.pressure_bar is None else BAROSTAT_FREQUENCY
        if segment.pressure_bar is not None:
            self.context.setParameter(openmm.MonteCarloBarostat.Pressure(), segment.pressure_bar)
        self.context.setParameter(openmm.MonteCarloBarostat.Temperature(), segment.temperature_k)
        if self.barostat.getFrequency() != frequency:
            self.barostat.setFrequency(frequency)
            self.context.reinitialize(preserveState=True)

    def step(self, n_steps: int) -> None:
        try:
            self.integrator.step(n_steps)
        except openmm.OpenMMException as exc:
            raise SimulationError(f"OpenMM failed: {str(exc).splitlines()[0]}") from None

    def snapshot(self):
        s = self.context.getState(getPositions=True, getEnergy=True)
        box = np.array(s.getPeriodicBoxVectors().value_in_unit(u.nanometer)) if self.periodic else None
        return (s.getPositions(asNumpy=True).value_in_unit(u.nanometer), box,
                s.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole),
                s.getKineticEnergy().value_in_unit(u.kilojoule_per_mole))


class OpenMMEngine(MDEngine):
    """Reference MD with OpenMM (options: sciwm.engines.base.MDEngine). platform: 'Reference',
    'CPU', 'CUDA', 'OpenCL' or None for the fastest here. With friction 0 LangevinMiddle reduces
    to leapfrog Verlet (NVE)."""

    name = "openmm"

    def __init__(self, platform: str | None = None, **options):
        if platform is not None and platform not in available_platforms():
            raise InputError(f"unknown OpenMM platform {platform!r}: available {', '.join(available_platforms())}")
        super().__init__(**options)
        self.platform = platform

    def run(self, system: System, protocol: Protocol, *, save_every_ps: float, seed: int = 0,
            state: State | None = None, progress=None) -> Trajectory:
        t_start, start_time = time.perf_counter(), now_iso()
        dt, friction, minimize, steps, save_steps = self.settings(system, protocol, save_every_ps)
        state = state or State(system.positions, system.box)
        omm_seed = seed % 2**31 + 1  # OpenMM treats seed 0 as "pick one at random"

        omm = build_openmm_system(system)
        first = protocol.segments[0]
        barostat = None
        if protocol.has_pressure:
            p0 = next(s.pressure_bar for s in protocol.segments if s.pressure_bar is not None)
            barostat = openmm.MonteCarloBarostat(p0, first.temperature_k, BAROSTAT_FREQUENCY)
            barostat.setRandomNumberSeed(omm_seed)
            omm.addForce(barostat)
        integrator = openmm.LangevinMiddleIntegrator(first.temperature_k, friction, dt)
        integrator.setRandomNumberSeed(omm_seed)
        platform_name = self.platform or default_platform(system.n_atoms)
        platform = openmm.Platform.getPlatformByName(platform_name)
        properties = {"Precision": "mixed"} if platform_name in ("CUDA", "OpenCL", "HIP") else {}
        try:
            context = openmm.Context(omm, integrator, platform, properties)
            if state.box is not None:
                context.setPeriodicBoxVectors(*[openmm.Vec3(*row) for row in state.box])
            context.setPositions(state.positions * u.nanometer)
            if minimize:
                openmm.LocalEnergyMinimizer.minimize(context, 10.0, 2000)
            if state.velocities is not None:
                context.setVelocities(state.velocities * u.nanometer / u.picosecond)
            else:
                context.setVelocitiesToTemperature(first.temperature_k, omm_seed)
            context.applyConstraints(1e-6)
            context.applyVelocityConstraints(1e-6)
        except openmm.OpenMMException as exc:
            raise SimulationError(f"OpenMM could not set up {system.name}: {str(exc).splitlines()[0]}") from None
        runner = _OpenMMRunner(context, integrator, barostat, system.periodic)

        record = RunRecord(
            engine=self.name, engine_version=openmm.__version__, platform=platform_name,
            precision=_precision(platform, context),
            potential=system.potential.describe(), integrator="LangevinMiddleIntegrator"
            + (" + MonteCarloBarostat" if barostat is not None else ""),
            timestep_ps=dt, friction_per_ps=friction, seed=seed, system=system.describe(),
            protocol=protocol.to_json(), save_every_ps=save_every_ps, n_atoms=system.n_atoms,
            n_dof=degrees_of_freedom(omm), start_time=start_time, minimized=minimize,
            host=host_info(), sciwm_version=sciwm.__version__)
        return drive(runner, system, protocol, steps, save_steps, record, progress, self.equilibrate_ps, t_start)
