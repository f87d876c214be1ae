"""The JAX force field equals OpenMM's; the corrector repairs clashes and samples the temperature."""
import jax
import jax.numpy as jnp
import numpy as np
import openmm
import openmm.unit as u
import pytest

import dataclasses

from sciwm.engines.openmm_engine import build_openmm_system
from sciwm.errors import InputError
from sciwm.model.corrector import Corrector
from sciwm.model.forcefield import jax_energy, jax_force
from sciwm.systems import get_system
from sciwm.units import BAR_NM3_IN_KJ_PER_MOL, BOLTZMANN_KJ_PER_MOL_K


def openmm_energy_forces(omm, x, box):
    context = openmm.Context(omm, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    if box is not None:
        context.setPeriodicBoxVectors(*np.diag(box))
    context.setPositions(x)
    state = context.getState(getEnergy=True, getForces=True)
    return (state.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole),
            state.getForces(asNumpy=True).value_in_unit(u.kilojoule_per_mole / u.nanometer))


def flexible(system):
    if system.periodic:
        return system
    return dataclasses.replace(system, potential=dataclasses.replace(system.potential, constraints=None))


@pytest.mark.parametrize("name", ["ala2", "ala2-implicit", "lj"])
def test_energy_and_forces_equal_openmm(name):
    system = flexible(get_system(name))
    omm = build_openmm_system(system)
    energy = jax.jit(jax.value_and_grad(jax_energy(omm)))
    force = jax.jit(jax_force(omm))  # written out (bonded, LJ, Coulomb) and differentiated (OBC)
    rng = np.random.default_rng(0)
    box = None if system.box is None else np.diag(system.box)
    for _ in range(2):  # off-equilibrium geometries: every term is strained
        x = system.positions + rng.normal(0.0, 0.005, system.positions.shape)
        e_ref, f_ref = openmm_energy_forces(omm, x, box)
        args = jnp.asarray(x, jnp.float32), None if box is None else jnp.asarray(box, jnp.float32)
        e, grad = energy(*args)
        assert float(e) == pytest.approx(e_ref, rel=1e-4, abs=0.05)  # float32 against OpenMM's double
        np.testing.assert_allclose(-np.asarray(grad), f_ref, atol=1e-3 * np.abs(f_ref).max() + 0.05)
        np.testing.assert_allclose(np.asarray(force(*args)), f_ref, atol=1e-3 * np.abs(f_ref).max() + 0.05)


def test_unsupported_input_is_refused():
    with pytest.raises(Exception, match="without constraints"):
        jax_energy(build_openmm_system(get_system("ala2")))  # HBonds: H bonds have no energy term
    omm = build_openmm_system(flexible(get_system("ala2")))
    omm.addForce(openmm.CustomExternalForce("x"))
    with pytest.raises(Exception, match="does not support CustomExternalForce"):
        jax_energy(omm)


def test_corrector_repairs_a_clash():
    system = get_system("lj")
    x = np.array(system.positions)
    x[1] = x[0] + np.array([0.05, 0.0, 0.0])  # 0.15 sigma: an energy of ~1e10 kJ/mol
    box = jnp.asarray(np.diag(system.box), jnp.float32)
    corrector = Corrector.from_system(system, steps=20)
    y = np.asarray(jax.jit(corrector)(jax.random.PRNGKey(0), jnp.asarray(x, jnp.float32), box, jnp.float32(100.0))[0])
    d = y[:, None] - y[None]
    d -= np.diag(system.box) * np.round(d / np.diag(system.box))
    r = np.sqrt((d**2).sum(-1)) + np.eye(len(y)) * 10
    assert np.all(np.isfinite(y))
    assert r.min() > 0.8 * 0.3405


@pytest.mark.parametrize("options", [{}, {"hydrogen_mass": 3.0, "timestep_ps": 0.002}, {"nonbonded_every": 3},
                                     {"hydrogen_mass": 3.0, "timestep_ps": 0.002, "nonbonded_every": 2}],
                         ids=["1fs", "hmr-2fs", "1fs-nonbonded-every-3", "hmr-2fs-nonbonded-every-2"])
def test_corrector_samples_the_temperature(options):
    """Near a minimum at 30 K the molecule is harmonic: <U - U_min> = (3N - 6) kT / 2, whatever
    the masses (repartitioned hydrogens with a 2-fs step) and with the non-bonded forces applied as
    impulses every few steps (multiple time steps)."""
    system = get_system("ala2")
    omm = build_openmm_system(flexible(system))
    context = openmm.Context(omm, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(system.positions)
    openmm.LocalEnergyMinimizer.minimize(context, 1e-3, 5000)
    x_min = context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(u.nanometer)
    corrector = Corrector.from_system(system, steps=3000, **options)
    energy = jax_energy(omm)
    T = 30.0
    keys = jax.random.split(jax.random.PRNGKey(1), 16)
    x0 = jnp.asarray(x_min, jnp.float32)
    xs = jax.jit(lambda k: corrector.batch(k, jnp.tile(x0[None], (16, 1, 1)), None, jnp.float32(T))[0])(keys)
    excess = np.asarray(jax.vmap(lambda y: energy(y, None))(xs)) - float(energy(x0, None))
    expected = 0.5 * (3 * system.n_atoms - 6) * BOLTZMANN_KJ_PER_MOL_K * T
    # 16 independent samples of a sum of 60 quadratic terms: relative sd sqrt(2/60)/4 = 5%
    assert excess.mean() == pytest.approx(expected, rel=0.2)


@pytest.mark.parametrize("name, options, pressure", [("ala2-implicit", {"steps": 20, "nonbonded_every": 2}, np.nan),
                                                    ("lj", {"steps": 20, "barostat_interval": 5}, 1000.0)])
def test_batch_equals_each_replica_alone(name, options, pressure):
    """Corrector.batch (replicas last inside) gives each replica what it gets alone with its key:
    one replica's frame, box and random numbers never leak into another's."""
    system = get_system(name) if name != "lj" else get_system("lj", n_atoms=64, box_nm=1.6 * 1.3, seed=0)
    corrector = Corrector.from_system(system, **options)
    rng = np.random.default_rng(0)
    xs = jnp.asarray(system.positions[None] + rng.normal(0, 0.005, (3, system.n_atoms, 3)), jnp.float32)
    boxes = None if system.box is None else jnp.asarray(np.diag(system.box)[None] * [[1.0], [1.02], [0.98]], jnp.float32)
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    T, P = jnp.float32(300.0 if name != "lj" else 100.0), jnp.float32(pressure)
    together = jax.jit(lambda k, x, b: corrector.batch(k, x, b, T, P))(keys, xs, boxes)
    alone = jax.jit(lambda k, x, b: corrector(k, x, b, T, P))
    for r in range(3):
        x, box = alone(keys[r], xs[r], None if boxes is None else boxes[r])
        np.testing.assert_allclose(np.asarray(together[0][r]), np.asarray(x), atol=1e-5)
        if boxes is not None:
            np.testing.assert_allclose(np.asarray(together[1][r]), np.asarray(box), rtol=1e-6)
    assert float(jnp.abs(together[0] - xs).max()) > 1e-3  # it moved them
    if boxes is not None:
        assert np.any(np.asarray(together[1]) != np.asarray(boxes))  # the barostat moved some box


def test_multiple_time_steps_split_the_force_field():
    """bonded + non-bonded = all; steps must be a whole number of non-bonded intervals."""
    system = flexible(get_system("ala2-implicit"))
    omm = build_openmm_system(system)
    x = jnp.asarray(system.positions, jnp.float32)
    parts = [float(jax_energy(omm, part)(x, None)) for part in ("all", "bonded", "nonbonded")]
    assert parts[0] == pytest.approx(parts[1] + parts[2], abs=1e-3)
    assert abs(parts[1]) > 1 and abs(parts[2]) > 1
    for part in ("bonded", "nonbonded"):  # each part's force is minus its own energy's gradient
        expected = -jax.jit(jax.grad(jax_energy(omm, part)))(x, None)
        force = jax.jit(jax_force(omm, part))(x, None)
        np.testing.assert_allclose(force, expected, atol=1e-4 * float(jnp.abs(expected).max()))
    with pytest.raises(InputError, match="multiple of the non-bonded force interval"):
        Corrector.from_system(system, steps=10, nonbonded_every=3)
    with pytest.raises(InputError, match="do not combine"):
        Corrector.from_system(get_system("lj"), steps=10, nonbonded_every=2, barostat_interval=5)


def test_hydrogen_mass_repartition_keeps_the_total():
    system = get_system("ala2")
    corrector = Corrector.from_system(system, steps=1, hydrogen_mass=3.0, timestep_ps=0.002)
    hydrogens = system.masses < 1.5
    assert corrector.masses.sum() == pytest.approx(system.masses.sum())
    np.testing.assert_allclose(corrector.masses[hydrogens], 3.0)
    assert np.all(corrector.masses[~hydrogens] <= system.masses[~hydrogens])
    assert corrector.describe()["hydrogen_mass"] == 3.0
    for bad in ({"hydrogen_mass": -1.0}, {"hydrogen_mass": 20.0}, {"timestep_ps": 0.0}):
        with pytest.raises(InputError):
            Corrector.from_system(system, steps=1, **bad)


def test_barostat_samples_the_ideal_gas_volume(monkeypatch):
    """With no interactions, NPT with atom scaling has p(V) ~ V^N exp(-PV/kT): <V> = (N + 1) kT / P
    exactly; the barostat's acceptance rule must give it. Under NVT (pressure NaN) the box stays."""
    import sciwm.model.corrector as corrector_module

    monkeypatch.setattr(corrector_module, "LOG_VOLUME_STEP", 0.5)  # an ideal gas's V spreads ~1/sqrt(N + 1)
    n, T, P = 8, 100.0, 1000.0
    ideal = Corrector(energy=lambda x, box: 0.0 * jnp.sum(x), masses=np.full(n, 40.0), steps=400, timestep_ps=0.005,
                      friction_per_ps=1.0, barostat_interval=1)
    x = jax.random.uniform(jax.random.PRNGKey(0), (n, 3), minval=0.0, maxval=0.5)
    box = jnp.full(3, 0.8)  # V = 0.51 nm^3, four times the expected mean
    keys = jax.random.split(jax.random.PRNGKey(1), 512)
    run = jax.jit(jax.vmap(lambda k, p: ideal(k, x, box, jnp.float32(T), p)[1], in_axes=(0, None)))
    volumes = np.prod(np.asarray(run(keys, jnp.float32(P))), axis=1)
    expected = (n + 1) * BOLTZMANN_KJ_PER_MOL_K * T / (P * BAR_NM3_IN_KJ_PER_MOL)
    # 512 replicas after 400 moves each: V/<V> has sd 1/3, so the mean is known to ~1.5%
    assert volumes.mean() == pytest.approx(expected, rel=0.05)
    assert volumes.std() / volumes.mean() == pytest.approx(1 / np.sqrt(n + 1), rel=0.1)
    np.testing.assert_array_equal(np.asarray(run(keys[:4], jnp.float32(np.nan))), np.tile(box, (4, 1)))


def test_barostat_needs_a_periodic_system():
    with pytest.raises(InputError, match="periodic"):
        Corrector.from_system(get_system("ala2"), steps=10, barostat_interval=5)
    with pytest.raises(InputError, match="barostat interval"):
        Corrector.from_system(get_system("lj"), steps=10, barostat_interval=20)


def test_torsions_of_any_periodicity_equal_openmm():
    """Several terms on one quadruple and periodicities up to 6 (ala2 has 1-3), random geometries."""
    omm = openmm.System()
    for _ in range(5):
        omm.addParticle(12.0)
    torsions = openmm.PeriodicTorsionForce()
    for quad, n, phase, k in [((0, 1, 2, 3), 1, 0.3, 2.0), ((0, 1, 2, 3), 3, 1.1, 1.5), ((0, 1, 2, 3), 6, -0.4, 0.7),
                              ((1, 2, 3, 4), 2, np.pi, 4.0), ((1, 2, 3, 4), 4, 0.0, 1.0)]:
        torsions.addTorsion(*quad, n, phase, k)
    omm.addForce(torsions)
    energy = jax.jit(jax.value_and_grad(jax_energy(omm)))
    force = jax.jit(jax_force(omm))
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.normal(0.0, 0.15, (5, 3))
        e_ref, f_ref = openmm_energy_forces(omm, x, None)
        e, grad = energy(jnp.asarray(x, jnp.float32), None)
        assert float(e) == pytest.approx(e_ref, rel=1e-5, abs=1e-4)
        np.testing.assert_allclose(-np.asarray(grad), f_ref, atol=1e-5 * np.abs(f_ref).max() + 1e-4)
        np.testing.assert_allclose(force(jnp.asarray(x, jnp.float32), None), f_ref, atol=1e-5 * np.abs(f_ref).max() + 1e-4)
