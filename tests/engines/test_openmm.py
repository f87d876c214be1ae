"""Physics of the OpenMM adapter: thermostat, barostat, protocol switching, NVE, molecules.

Runs use the Reference platform: it is deterministic for a given seed (the CPU platform's force
sums are not), so these statistical checks give the same answer every time."""
import mdtraj
import numpy as np
import openmm
import pytest

from sciwm.engines.openmm_engine import OpenMMEngine, build_openmm_system, default_platform
from sciwm.errors import InputError
from sciwm.protocol import parse_protocol
from sciwm.systems import get_system


@pytest.fixture(scope="module")
def lj_npt_switch(lj_system):
    """One run: NPT 1 bar, then NPT 1000 bar, at 100 K (liquid argon), 0.5 ps frames."""
    engine = OpenMMEngine(platform="Reference", equilibrate_ps=5.0)
    return engine.run(lj_system, parse_protocol("T=100K,P=1bar,t=30ps; T=100K,P=1000bar,t=30ps"),
                      save_every_ps=0.5, seed=1)


def test_lj_nvt_mean_temperature_within_2_percent(lj_system):
    traj = OpenMMEngine(platform="Reference", equilibrate_ps=5.0).run(
        lj_system, parse_protocol("T=120K,t=30ps"), save_every_ps=0.1, seed=2)
    assert traj.temperature.mean() == pytest.approx(120.0, rel=0.02)
    # instantaneous temperature fluctuates as the canonical ensemble says: std/mean = sqrt(2/n_dof)
    assert traj.temperature.std() / traj.temperature.mean() == pytest.approx(np.sqrt(2 / traj.record.n_dof), rel=0.3)
    assert np.all(traj.box == traj.box[0])  # NVT: the box never changes


def test_lj_npt_temperature_and_density_response(lj_npt_switch):
    traj = lj_npt_switch
    for seg in (0, 1):
        assert traj.temperature[traj.segment == seg].mean() == pytest.approx(100.0, rel=0.02)
    rho = traj.density_g_cm3()
    t = traj.time_ps
    low = rho[(t > 15) & (t <= 30)].mean()
    high_early, high_late = rho[(t > 37.5) & (t <= 48.75)].mean(), rho[(t > 48.75) & (t <= 60)].mean()
    assert high_late > low * 1.05  # 1000 bar compresses the liquid (measured +13..18%)
    # and it has settled: the density moves little after the first 7.5 ps compared with the response
    # (11-ps block means of 256 atoms still fluctuate by ~1-2%)
    assert abs(high_late - high_early) < 0.25 * (high_late - low)
    assert 1.2 < low < 1.45  # liquid argon near 100 K and 1 bar is ~1.3 g/cm^3


def test_protocol_switches_temperature_and_pressure_in_one_run(lj_system):
    protocol = parse_protocol("T=100K,P=1bar,t=10ps; T=140K,t=10ps")
    traj = OpenMMEngine(platform="Reference").run(lj_system, protocol, save_every_ps=0.5, seed=3)
    first, second = traj.segment == 0, traj.segment == 1
    assert first.sum() == second.sum() == 20
    assert np.all(traj.setpoint_temperature[first] == 100) and np.all(traj.setpoint_temperature[second] == 140)
    assert np.all(traj.setpoint_pressure[first] == 1) and np.all(np.isnan(traj.setpoint_pressure[second]))
    volume = traj.volume_nm3()
    assert np.ptp(volume[first]) > 0 and np.ptp(volume[second]) == 0  # barostat on, then off
    late = traj.time_ps > 15
    assert traj.temperature[late].mean() == pytest.approx(140, rel=0.05)
    assert [s.md_steps for s in traj.record.segments] == [2000, 2000]


def test_energy_is_conserved_without_thermostat(lj_system):
    """friction 0: leapfrog Verlet. Tolerance: total-energy drift below 1e-3 kJ/mol/ps per atom
    (measured 1e-5; the truncated, unshifted potential adds small jumps at the cut-off)."""
    traj = OpenMMEngine(platform="Reference", friction_per_ps=0.0).run(
        lj_system, parse_protocol("T=100K,t=10ps"), save_every_ps=0.1, seed=4)
    energy = traj.potential_energy + traj.kinetic_energy
    drift = np.polyfit(traj.time_ps, energy, 1)[0] / traj.n_atoms
    assert abs(drift) < 1e-3
    assert energy.std() < 0.01 * traj.kinetic_energy.mean()


def test_ala2_vacuum_300k_phi_psi_and_constraints(tmp_path):
    system = get_system("ala2")
    traj = OpenMMEngine(equilibrate_ps=10.0).run(system, parse_protocol("T=300K,t=200ps"), save_every_ps=0.5, seed=5)
    md = traj.to_mdtraj()
    phi = mdtraj.compute_phi(md)[1][:, 0]
    psi = mdtraj.compute_psi(md)[1][:, 0]
    assert np.mean(phi < 0) > 0.95
    assert np.all(np.isfinite(psi)) and np.ptp(psi) > 1.0  # psi explores (alpha-R <-> beta)
    assert traj.temperature.mean() == pytest.approx(300, rel=0.05)  # 51 degrees of freedom: noisy
    omm = build_openmm_system(system)
    pairs = np.array([omm.getConstraintParameters(i)[:2] for i in range(omm.getNumConstraints())])
    lengths = np.array([omm.getConstraintParameters(i)[2]._value for i in range(omm.getNumConstraints())])
    assert len(pairs) == 12  # every bond to hydrogen
    assert np.abs(mdtraj.compute_distances(md, pairs) - lengths).max() < 1e-4 * lengths.max() + 1e-6


def test_ala2_implicit_runs_with_obc():
    traj = OpenMMEngine().run(get_system("ala2-implicit"), parse_protocol("T=300K,t=20ps"), save_every_ps=0.5, seed=6)
    assert "amber99_obc.xml" in traj.record.potential and traj.record.platform == "Reference"
    assert np.all(np.isfinite(traj.potential_energy))
    omm = build_openmm_system(get_system("ala2-implicit"))
    assert any(isinstance(f, openmm.GBSAOBCForce) for f in omm.getForces())


def test_same_seed_same_trajectory(lj_system):
    run = lambda: OpenMMEngine(platform="Reference").run(lj_system, parse_protocol("T=100K,t=1ps"), save_every_ps=0.5, seed=7)
    np.testing.assert_array_equal(run().positions, run().positions)


def test_record_is_complete(lj_system):
    traj = OpenMMEngine(platform="Reference").run(lj_system, parse_protocol("T=100K,t=1ps;T=110K,t=1ps"), save_every_ps=0.5)
    r = traj.record
    assert r.engine == "openmm" and r.engine_version == openmm.__version__ and r.precision == "double"
    assert r.md_steps == 400 and r.timestep_ps == 0.005 and r.n_dof == 3 * 256 - 3
    assert r.wall_seconds >= sum(s.wall_seconds for s in r.segments) > 0
    assert r.host["cpu_count"] >= 1 and r.start_time < r.end_time


def test_default_platform_prefers_reference_for_small_systems():
    assert default_platform(22) == "Reference"
    assert default_platform(5000) in ("CPU", "CUDA", "HIP", "OpenCL")


def test_blow_up_is_reported(lj_system):
    from sciwm.errors import SimulationError
    with pytest.raises(SimulationError, match="blew up|OpenMM failed"):
        OpenMMEngine(platform="Reference", timestep_ps=0.2, minimize=False).run(
            lj_system, parse_protocol("T=5000K,t=200ps"), save_every_ps=2.0)


def test_pressure_on_non_periodic_system_is_refused():
    with pytest.raises(InputError, match="not periodic"):
        OpenMMEngine().run(get_system("ala2"), parse_protocol("T=300K,P=1bar,t=1ps"), save_every_ps=0.5)
