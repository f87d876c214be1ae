"""ASE adapter and the cross-engine Lennard-Jones parity."""
import numpy as np
import openmm
import pytest
from ase.calculators.lj import LennardJones as AseLennardJones

from sciwm.engines.ase_engine import EV, NM, AseEngine, make_calculator, to_atoms
from sciwm.engines.ase_lj import tail_energy
from sciwm.engines.trajectory import State
from sciwm.engines.openmm_engine import build_openmm_system
from sciwm.errors import InputError
from sciwm.protocol import parse_protocol
from sciwm.systems import get_system


def openmm_energy_forces(system, positions):
    ctx = openmm.Context(build_openmm_system(system), openmm.VerletIntegrator(0.001),
                         openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(positions)
    s = ctx.getState(getEnergy=True, getForces=True)
    return s.getPotentialEnergy()._value, s.getForces(asNumpy=True)._value


@pytest.mark.parametrize("seed", [0, 1])
def test_lj_energy_and_forces_match_openmm(lj_system, seed):
    """sciwm's ASE calculator uses OpenMM's convention (truncated, unshifted, tail corrected)."""
    rng = np.random.default_rng(seed)
    positions = lj_system.positions + rng.normal(scale=0.01, size=lj_system.positions.shape)
    e_omm, f_omm = openmm_energy_forces(lj_system, positions)
    atoms = to_atoms(lj_system, State(positions, lj_system.box))
    atoms.calc = make_calculator(lj_system.potential)
    assert atoms.get_potential_energy() * EV == pytest.approx(e_omm, rel=1e-7, abs=1e-4)
    np.testing.assert_allclose(atoms.get_forces() * EV * NM, f_omm, atol=1e-4)


def test_stock_ase_lennard_jones_reconciles_with_openmm(lj_system):
    """ASE's LennardJones shifts each pair within rc by -u(rc) and has no tail: adding back
    n_pairs * u(rc) and the analytic dispersion correction recovers OpenMM's energy."""
    lj = lj_system.potential
    e_omm, _ = openmm_energy_forces(lj_system, lj_system.positions)
    atoms = to_atoms(lj_system, State(lj_system.positions, lj_system.box))
    sigma, eps, rc = lj.sigma_nm * NM, lj.epsilon_kj_mol / EV, lj.cutoff_nm * NM
    atoms.calc = AseLennardJones(sigma=sigma, epsilon=eps, rc=rc)
    d = atoms.get_all_distances(mic=True)
    n_pairs = np.count_nonzero(d[np.triu_indices(len(atoms), 1)] < rc)
    shift = 4 * eps * ((sigma / rc) ** 12 - (sigma / rc) ** 6)
    e_ase = atoms.get_potential_energy() + n_pairs * shift + tail_energy(len(atoms), atoms.get_volume(), sigma, eps, rc)
    assert e_ase * EV == pytest.approx(e_omm, rel=1e-7, abs=1e-4)


def test_lj_stress_matches_finite_difference_of_energy_without_tail(lj_system):
    system = get_system("lj", n_atoms=256, seed=4)
    atoms = to_atoms(system, State(system.positions, system.box))
    atoms.calc = make_calculator(system.potential.__class__(**{**system.potential.__dict__, "dispersion_correction": False}))
    stress = atoms.get_stress(voigt=False)
    h = 1e-5
    for axis in range(3):
        strained = []
        for sign in (1, -1):
            a = atoms.copy()
            a.calc = atoms.calc.__class__(atoms.calc.sigma, atoms.calc.epsilon, atoms.calc.cutoff, False)
            eps = np.eye(3)
            eps[axis, axis] += sign * h
            a.set_cell(np.array(atoms.cell) @ eps, scale_atoms=True)
            strained.append(a.get_potential_energy())
        # d E / d strain / V, ignoring pairs that cross the cut-off (none for so small a strain)
        assert (strained[0] - strained[1]) / (2 * h) / atoms.get_volume() == pytest.approx(stress[axis, axis], rel=1e-4, abs=1e-8)


def test_ase_lj_nvt_mean_temperature(lj_system):
    """10 ps: the mean's standard error is ~1.5% (instantaneous T of 256 atoms fluctuates 5% and
    decorrelates in ~0.5 ps), so 5% is a 3-sigma bound; the slow test checks 2% on 30 ps."""
    traj = AseEngine(equilibrate_ps=2.0).run(lj_system, parse_protocol("T=120K,t=10ps"), save_every_ps=0.05, seed=1)
    assert traj.temperature.mean() == pytest.approx(120.0, rel=0.05)
    assert traj.record.engine == "ase" and traj.record.n_dof == 3 * 256


@pytest.mark.slow
def test_ase_lj_nvt_mean_temperature_within_2_percent(lj_system):
    traj = AseEngine(equilibrate_ps=2.0).run(lj_system, parse_protocol("T=120K,t=30ps"), save_every_ps=0.05, seed=2)
    assert traj.temperature.mean() == pytest.approx(120.0, rel=0.02)


@pytest.mark.slow
def test_ase_lj_npt_matches_openmm_density(lj_system):
    """Both engines target the same Hamiltonian and pressure (see sciwm.engines.ase_lj)."""
    from sciwm.engines.openmm_engine import OpenMMEngine
    protocol = parse_protocol("T=100K,P=500bar,t=30ps")
    ase_traj = AseEngine(equilibrate_ps=10.0).run(lj_system, protocol, save_every_ps=0.1, seed=3)
    omm_traj = OpenMMEngine(platform="CPU", equilibrate_ps=10.0).run(lj_system, protocol, save_every_ps=0.1, seed=3)
    assert ase_traj.temperature.mean() == pytest.approx(100.0, rel=0.02)
    assert ase_traj.density_g_cm3().mean() == pytest.approx(omm_traj.density_g_cm3().mean(), rel=0.02)


def test_ase_cu_two_segments_npt_then_nvt():
    system = get_system("cu", n_atoms=32)
    protocol = parse_protocol("T=300K,P=1bar,t=1ps; T=600K,t=1ps")
    traj = AseEngine().run(system, protocol, save_every_ps=0.05, seed=2)
    first, second = traj.segment == 0, traj.segment == 1
    assert np.ptp(traj.volume_nm3()[first]) > 0 and np.ptp(traj.volume_nm3()[second]) == 0
    assert np.all(traj.setpoint_temperature[second] == 600)
    assert traj.temperature[second].mean() > traj.temperature[first].mean()
    assert traj.record.integrator.startswith("LangevinBAOAB")


def test_ase_nve_conserves_energy():
    system = get_system("cu", n_atoms=32)
    traj = AseEngine(friction_per_ps=0.0).run(system, parse_protocol("T=300K,t=2ps"), save_every_ps=0.05, seed=3)
    energy = traj.potential_energy + traj.kinetic_energy
    # fluctuation and drift of the total energy both under 1% of the kinetic energy (EMT, 5 fs)
    assert energy.std() < 0.01 * traj.kinetic_energy.mean()
    assert abs(np.polyfit(traj.time_ps, energy, 1)[0]) * 2.0 < 0.01 * traj.kinetic_energy.mean()
    assert traj.record.integrator == "VelocityVerlet"


def test_ase_engine_refuses_force_field_systems():
    with pytest.raises(InputError, match="runs on the openmm engine"):
        AseEngine().run(get_system("ala2"), parse_protocol("T=300K,t=1ps"), save_every_ps=0.5)


def test_unknown_calculator():
    from sciwm.systems import AseCalculator
    with pytest.raises(InputError, match="unknown ASE calculator"):
        make_calculator(AseCalculator("no-such-calculator"))
