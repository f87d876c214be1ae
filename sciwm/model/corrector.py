"""Force-field corrector: a short physical relaxation after each learned jump (opt-in).

The flow's jump gets the slow part right more easily than the fast part: its frames carry strained
bonds and angles (ala2: ~120 kJ/mol above thermal) or, for liquids, overlapping atoms. The
corrector hands each jumped frame to the reference force field (sciwm.model.forcefield, in JAX):

1. repair - while some atom would move more than REPAIR_NM in one integrator step under its
   force (a clash or a broken bond), move every atom down its force by at most REPAIR_NM (at most
   REPAIR_ITERATIONS times; a well-formed frame skips this);
2. `steps` Langevin steps (BAOAB, fresh Maxwell-Boltzmann velocities at the segment's
   temperature) in the jump's box, which sample the force field's Boltzmann distribution locally.
   Under NPT the volume stays the learned model's. (A Monte Carlo barostat here was tried and
   dropped: a jump's damage, even after 100 relaxation steps, reads as pressure, and the box
   expanded jump after jump - liquid argon at 1 bar fell from 1.32 to 0.8-1.2 g/cm3.)

Masses do not enter the Boltzmann distribution of positions, so `hydrogen_mass` may move mass from
each heavy atom onto its bonded hydrogens (3 Da: the fastest X-H vibration slows ~1.6x), which
keeps a 2-fs step stable with every bond flexible: the same relaxation time for half the force
evaluations of the default 1 fs.

It costs `steps` force evaluations per jump (ala2 at 10-ps jumps: 50 against MD's 5000) and
cannot move the model's slow errors (which basin a frame is in): those are the model's.
Units: nm, ps, kJ/mol, dalton, K.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from sciwm.errors import InputError
from sciwm.systems import ForceField, System
from sciwm.units import BOLTZMANN_KJ_PER_MOL_K

REPAIR_NM = 0.01
REPAIR_ITERATIONS = 200
MOLECULE_TIMESTEP_PS = 0.001  # flexible bonds to hydrogen: the reference's 2 fs relies on constraints


@dataclass(frozen=True, eq=False)
class Corrector:
    """steps: Langevin steps per jump; timestep_ps, friction_per_ps: the integrator's; masses
    (dalton) possibly repartitioned (hydrogen_mass)."""

    energy: object
    masses: np.ndarray
    steps: int
    timestep_ps: float
    friction_per_ps: float
    hydrogen_mass: float | None = None  # dalton, when masses were repartitioned

    @classmethod
    def from_system(cls, system: System, steps: int, friction_per_ps: float = 10.0,
                    hydrogen_mass: float | None = None, timestep_ps: float | None = None) -> "Corrector":
        """The reference system's force field (OpenMM) with every bond flexible, its masses and
        a time step that is stable without constraints. hydrogen_mass (dalton): repartition mass
        from each bonded heavy atom onto its hydrogens (the configurational distribution does
        not depend on the masses; heavier hydrogens allow a longer timestep_ps)."""
        from sciwm.engines.openmm_engine import build_openmm_system  # OpenMM only where a corrector is built
        from sciwm.model.forcefield import bonded_pairs, jax_energy

        if steps < 1:
            raise InputError(f"corrector steps must be at least 1, got {steps}")
        if timestep_ps is not None and not timestep_ps > 0:
            raise InputError(f"corrector time step must be positive, got {timestep_ps} ps")
        if hydrogen_mass is not None and not hydrogen_mass > 0:
            raise InputError(f"hydrogen mass must be positive, got {hydrogen_mass} Da")
        if isinstance(system.potential, ForceField) and system.potential.constraints:
            # constrained bonds have no energy term: build the force field with flexible ones
            system = dataclasses.replace(system, potential=dataclasses.replace(system.potential, constraints=None))
        omm = build_openmm_system(system)
        masses = np.array(system.masses, dtype=np.float64)
        if hydrogen_mass is not None:
            masses = repartition(masses, bonded_pairs(omm), hydrogen_mass)
        dt = timestep_ps or (system.timestep_ps if system.periodic else min(system.timestep_ps, MOLECULE_TIMESTEP_PS))
        return cls(jax_energy(omm), masses, steps, dt, friction_per_ps, hydrogen_mass)

    @classmethod
    def for_model(cls, saved: dict, steps: int, **options) -> "Corrector":
        """The corrector of a trained model (its saved config): its training system's force field;
        options as from_system's."""
        return cls.from_system(training_system(saved), steps, **options)

    def describe(self) -> dict:
        return {"steps": self.steps, "timestep_ps": self.timestep_ps, "friction_per_ps": self.friction_per_ps,
                "hydrogen_mass": self.hydrogen_mass}

    def __call__(self, key, x, box, temperature):
        """x (n, 3) nm after a jump, box (3,) nm or None (held fixed), temperature K -> relaxed x."""
        inv_mass = jnp.asarray(1.0 / self.masses, jnp.float32)[:, None]
        dt, n = self.timestep_ps, x.shape[0]
        force = jax.grad(lambda y: -self.energy(y, box))

        def kick(f):  # displacement one step's force gives each atom, and its length
            d = f * dt**2 * inv_mass
            return d, jnp.sqrt(jnp.sum(d**2, -1, keepdims=True))

        def repair(carry):
            y, f, i = carry
            d, length = kick(f)
            y = y + d * jnp.minimum(1.0, REPAIR_NM / jnp.maximum(length, 1e-12))
            return y, force(y), i + 1

        x, f, _ = jax.lax.while_loop(lambda c: (jnp.max(kick(c[1])[1]) > REPAIR_NM) & (c[2] < REPAIR_ITERATIONS),
                                     repair, (x, force(x), jnp.int32(0)))
        sd = jnp.sqrt(BOLTZMANN_KJ_PER_MOL_K * temperature * inv_mass)  # thermal speed, nm/ps
        c1 = float(np.exp(-self.friction_per_ps * dt))
        c2 = float(np.sqrt(1.0 - c1**2))
        key, sub = jax.random.split(key)
        v = sd * jax.random.normal(sub, (n, 3))

        def baoab(carry, k):
            y, v, f = carry
            v = v + 0.5 * dt * f * inv_mass
            y = y + 0.5 * dt * v
            v = c1 * v + c2 * sd * jax.random.normal(k, (n, 3))
            y = y + 0.5 * dt * v
            f = force(y)
            return (y, v + 0.5 * dt * f * inv_mass, f), None

        (x, _, _), _ = jax.lax.scan(baoab, (x, v, f), jax.random.split(key, self.steps))
        return x


def repartition(masses: np.ndarray, bonds: np.ndarray, hydrogen_mass: float) -> np.ndarray:
    """Masses (dalton) with every hydrogen (< 1.5 Da) bonded to a heavy atom raised to
    hydrogen_mass, the difference taken from that heavy atom; the total mass is kept."""
    out = masses.copy()
    for i, j in bonds:
        h, heavy = (i, j) if masses[i] < 1.5 else (j, i)
        if masses[h] < 1.5 <= masses[heavy]:
            out[heavy] -= hydrogen_mass - out[h]
            out[h] = hydrogen_mass
    if np.any(out <= 0):
        raise InputError(f"hydrogen mass {hydrogen_mass} Da leaves an atom without mass")
    return out


def training_system(saved: dict) -> System:
    """The reference system a model was trained on, rebuilt from its config (built-in systems)."""
    from sciwm.data import read_trajectory
    from sciwm.systems import BUILTIN, get_system

    described = saved.get("system")
    if described is None and saved.get("data"):
        try:  # models trained before the config kept the system: ask their first data file
            described = read_trajectory(saved["data"][0]).record.system
        except InputError:  # moved or unreadable
            described = None
    if not described or described.get("name") not in BUILTIN:
        raise InputError("the force-field corrector needs a model trained on a built-in system "
                         f"({', '.join(BUILTIN)}); this model's training system is unknown")
    name = described["name"]
    return get_system(name, n_atoms=described["n_atoms"] if name in ("lj", "cu") else None)
