"""Force-field corrector: a short physical relaxation after each learned jump (opt-in).

The flow's jump gets the slow part right more easily than the fast part: its frames carry strained
bonds and angles (ala2: ~120 kJ/mol above thermal) or, for liquids, overlapping atoms. The
corrector hands each jumped frame to the reference force field (sciwm.model.forcefield, in JAX):

1. repair - while some atom would move more than REPAIR_NM in one integrator step under its
   force (a clash or a broken bond), move every atom down its force by at most REPAIR_NM (at most
   REPAIR_ITERATIONS times; a well-formed frame skips this);
2. `steps` Langevin steps (BAOAB, fresh Maxwell-Boltzmann velocities at the segment's
   temperature) in the jump's box, which sample the force field's Boltzmann distribution locally;
3. under NPT, only if asked (`barostat_interval` k > 0), a Monte Carlo volume move after every k
   of those steps (or after each of the last `barostat_moves` blocks of k): every coordinate
   scaled by (V'/V)^(1/3), ln V' - ln V uniform in +-LOG_VOLUME_STEP, accepted with
   min(1, exp(-[dU + P dV - (N + 1) kT ln(V'/V)] / kT)), exact for NPT (N atoms). Otherwise the
   volume is the learned model's. Without jumps it reproduces OpenMM's LJ densities (within 0.4%);
   after learned LJ jumps it expands the box, since the jump's damage relaxes over picoseconds and
   reads as excess pressure until then (benchmarks/corrector_npt.py).

Multiple time steps (`nonbonded_every` k > 1): the non-bonded forces (Lennard-Jones, Coulomb,
generalized Born: ~3/4 of ala2-implicit's force cost) act as impulses of k time steps around every k
Langevin steps taken with the bonded forces alone (impulse r-RESPA around BAOAB), so they are
evaluated k times less often. ala2-implicit, 1000 steps of 1 fs: k = 2 costs 0.70x, k = 4 0.53x;
k = 2 keeps the equilibrium ensemble after 1-ns jumps (4 of 4 seeds), k = 4 distorts frames (some
replicas stop on chirality) - benchmarks/README.md, tenth session.

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
from sciwm.model.graph import replicas_last
from sciwm.systems import ForceField, System
from sciwm.units import BAR_NM3_IN_KJ_PER_MOL, BOLTZMANN_KJ_PER_MOL_K

REPAIR_NM = 0.01
REPAIR_ITERATIONS = 200
MOLECULE_TIMESTEP_PS = 0.001  # flexible bonds to hydrogen: the reference's 2 fs relies on constraints
LOG_VOLUME_STEP = 0.01  # largest trial change of ln V (liquid argon, 256 atoms: ln V fluctuates ~1% rms)


@dataclass(frozen=True, eq=False)
class Corrector:
    """steps: Langevin steps per jump; timestep_ps, friction_per_ps: the integrator's; masses
    (dalton) possibly repartitioned (hydrogen_mass); barostat_interval: Langevin steps between
    Monte Carlo volume moves under NPT (0: the volume stays the model's); barostat_moves: how many,
    at the end of the steps (default: as many as fit); nonbonded_every: Langevin steps per evaluation of
    the non-bonded forces (1: every step)."""

    energy: object  # batched (sciwm.model.forcefield): x (n, 3, R), box (3, R) or None -> (R,) kJ/mol
    masses: np.ndarray
    steps: int
    timestep_ps: float
    friction_per_ps: float
    hydrogen_mass: float | None = None  # dalton, when masses were repartitioned
    barostat_interval: int = 0
    barostat_moves: int | None = None  # None: steps // barostat_interval
    nonbonded_every: int = 1  # Langevin steps per evaluation of the non-bonded forces
    parts: tuple | None = None  # (bonded, non-bonded) forces, when nonbonded_every > 1
    force: object = None  # batched forces (x, box) -> (n, 3, R) kJ/mol/nm; None: minus the gradient of energy

    @classmethod
    def from_system(cls, system: System, steps: int, friction_per_ps: float = 10.0,
                    hydrogen_mass: float | None = None, timestep_ps: float | None = None,
                    barostat_interval: int = 0, barostat_moves: int | None = None,
                    nonbonded_every: int = 1) -> "Corrector":
        """The reference system's force field (OpenMM) with every bond flexible, its masses and
        a time step that is stable without constraints. hydrogen_mass (dalton): repartition mass
        from each bonded heavy atom onto its hydrogens (the configurational distribution does
        not depend on the masses; heavier hydrogens allow a longer timestep_ps). nonbonded_every: the
        non-bonded forces every that many steps (multiple time steps; steps must be a multiple)."""
        from sciwm.engines.openmm_engine import build_openmm_system  # OpenMM only where a corrector is built
        from sciwm.model.forcefield import bonded_pairs, jax_energy, jax_force

        if steps < 1:
            raise InputError(f"corrector steps must be at least 1, got {steps}")
        if timestep_ps is not None and not timestep_ps > 0:
            raise InputError(f"corrector time step must be positive, got {timestep_ps} ps")
        if hydrogen_mass is not None and not hydrogen_mass > 0:
            raise InputError(f"hydrogen mass must be positive, got {hydrogen_mass} Da")
        if not 0 <= barostat_interval <= steps:
            raise InputError(f"barostat interval must be between 0 (off) and the corrector steps ({steps}), "
                             f"got {barostat_interval}")
        if barostat_moves is not None and not (barostat_interval and 1 <= barostat_moves * barostat_interval <= steps):
            raise InputError(f"{barostat_moves} barostat moves every {barostat_interval} steps do not fit in {steps} "
                             "corrector steps")
        if barostat_interval and not system.periodic:
            raise InputError("a barostat needs a periodic system")
        if nonbonded_every < 1 or steps % nonbonded_every:
            raise InputError(f"corrector steps ({steps}) must be a multiple of the non-bonded force interval "
                             f"({nonbonded_every})")
        if nonbonded_every > 1 and barostat_interval:
            raise InputError("multiple time steps and the corrector's barostat do not combine")
        if isinstance(system.potential, ForceField) and system.potential.constraints:
            # constrained bonds have no energy term: build the force field with flexible ones
            system = dataclasses.replace(system, potential=dataclasses.replace(system.potential, constraints=None))
        omm = build_openmm_system(system)
        masses = np.array(system.masses, dtype=np.float64)
        if hydrogen_mass is not None:
            masses = repartition(masses, bonded_pairs(omm), hydrogen_mass)
        dt = timestep_ps or (system.timestep_ps if system.periodic else min(system.timestep_ps, MOLECULE_TIMESTEP_PS))
        parts = tuple(jax_force(omm, p, batched=True) for p in ("bonded", "nonbonded")) if nonbonded_every > 1 else None
        return cls(jax_energy(omm, batched=True), masses, steps, dt, friction_per_ps, hydrogen_mass, barostat_interval,
                   barostat_moves, nonbonded_every, parts, jax_force(omm, batched=True))

    @classmethod
    def for_model(cls, saved: dict, steps: int, **options) -> "Corrector":
        """The corrector of a trained model (its saved config): its training system's force field;
        options as from_system's."""
        return cls.from_system(training_system(saved), steps, **options)

    def describe(self) -> dict:
        return {"steps": self.steps, "timestep_ps": self.timestep_ps, "friction_per_ps": self.friction_per_ps,
                "hydrogen_mass": self.hydrogen_mass, "barostat_interval": self.barostat_interval,
                "barostat_moves": self.barostat_moves, "nonbonded_every": self.nonbonded_every}

    def __call__(self, key, x, box, temperature, pressure=jnp.nan):
        """One replica: x (n, 3) nm after a jump, box (3,) nm or None, temperature K, pressure bar
        (NaN: NVT) -> relaxed (x, box); the box changes only with a barostat under NPT. The same
        numbers as that replica in `batch` with the same key."""
        xs, boxes = self.batch(key[None], x[None], None if box is None else box[None], temperature, pressure)
        return xs[0], None if boxes is None else boxes[0]

    def batch(self, keys, xs, boxes, temperature, pressure=jnp.nan):
        """R replicas at once: keys (R, 2), xs (R, n, 3) nm, boxes (R, 3) nm or None; temperature K
        and pressure bar shared -> (xs, boxes). Each replica's random numbers come from its own key,
        so a replica's result does not depend on the others. Inside, arrays keep the replicas last
        (n, 3, R): the force field's layout, which XLA vectorises over the replicas."""
        inv_mass = jnp.asarray(1.0 / self.masses, jnp.float32)[:, None, None]
        dt, n = self.timestep_ps, xs.shape[1]
        x, box = replicas_last(xs, boxes)
        force = self.force or jax.grad(lambda y, b: -jnp.sum(self.energy(y, b)))
        split = jax.vmap(lambda k: tuple(jax.random.split(k)))  # per replica: (R, 2) -> two (R, 2)

        def steps_of(keys, count):  # per replica, `count` keys -> (count, R, 2)
            return jnp.swapaxes(jax.vmap(lambda k: jax.random.split(k, count))(keys), 0, 1)

        def normal(keys):  # per replica, (n, 3) normals -> (n, 3, R)
            return jnp.transpose(jax.vmap(lambda k: jax.random.normal(k, (n, 3)))(keys), (1, 2, 0))

        def kick(f):  # displacement one step's force gives each atom, and its length
            d = f * dt**2 * inv_mass
            return d, jnp.sqrt(jnp.sum(d**2, 1, keepdims=True))

        def needs_repair(f):  # (R,)
            return jnp.max(kick(f)[1], axis=(0, 1)) > REPAIR_NM

        def repair(carry):  # only the replicas that still need it move
            y, f, i = carry
            d, length = kick(f)
            moved = y + d * jnp.minimum(1.0, REPAIR_NM / jnp.maximum(length, 1e-12))
            y = jnp.where(jnp.max(length, axis=(0, 1)) > REPAIR_NM, moved, y)
            return y, force(y, box), i + 1

        def repairing(carry):
            y, f, i = carry
            return jnp.any(needs_repair(f)) & (i < REPAIR_ITERATIONS)

        x, f, _ = jax.lax.while_loop(repairing, repair, (x, force(x, box), jnp.int32(0)))
        kT = BOLTZMANN_KJ_PER_MOL_K * temperature
        sd = jnp.sqrt(kT * inv_mass)  # thermal speed, nm/ps
        c1 = float(np.exp(-self.friction_per_ps * dt))
        c2 = float(np.sqrt(1.0 - c1**2))
        keys, sub = split(keys)
        v = sd * normal(sub)

        def langevin(y, v, f, b, keys, steps, force=force):  # BAOAB
            def step(carry, k):
                y, v, f = carry
                v = v + 0.5 * dt * f * inv_mass
                y = y + 0.5 * dt * v
                v = c1 * v + c2 * sd * normal(k)
                y = y + 0.5 * dt * v
                f = force(y, b)
                return (y, v + 0.5 * dt * f * inv_mass, f), None

            return jax.lax.scan(step, (y, v, f), steps_of(keys, steps))[0]

        def volume_move(keys, y, f, b):  # one Monte Carlo volume move per replica
            k1, k2 = split(keys)
            log_ratio = LOG_VOLUME_STEP * jax.vmap(lambda k: jax.random.uniform(k, minval=-1.0, maxval=1.0))(k1)
            s = jnp.exp(log_ratio / 3)
            def summed(z):  # the replicas' energies are independent: the sum's gradient is each one's
                each = self.energy(z, b * s)
                return jnp.sum(each), each

            (_, u_new), g_new = jax.value_and_grad(summed, has_aux=True)(y * s)
            work = (u_new - self.energy(y, b) + pressure * BAR_NM3_IN_KJ_PER_MOL * jnp.prod(b, 0) * (s**3 - 1)
                    - (n + 1) * kT * log_ratio)
            accept = jnp.isfinite(pressure) & (jnp.log(jax.vmap(jax.random.uniform)(k2)) < -work / kT)
            return jnp.where(accept, y * s, y), jnp.where(accept, -g_new, f), jnp.where(accept, b * s, b)

        def done(x, box):
            return jnp.transpose(x, (2, 0, 1)), None if box is None else box.T

        if self.nonbonded_every > 1:  # impulse multiple time steps: slow kicks around blocks of fast BAOAB steps
            bonded, nonbonded = self.parts
            half_kick = 0.5 * self.nonbonded_every * dt * inv_mass

            def outer(carry, keys):
                y, v, f_fast, f_slow = carry
                y, v, f_fast = langevin(y, v + half_kick * f_slow, f_fast, box, keys, self.nonbonded_every, bonded)
                f_slow = nonbonded(y, box)
                return (y, v + half_kick * f_slow, f_fast, f_slow), None

            carry = (x, v, bonded(x, box), nonbonded(x, box))
            return done(jax.lax.scan(outer, carry, steps_of(keys, self.steps // self.nonbonded_every))[0][0], box)
        k = self.barostat_interval if box is not None else 0
        if not k:
            return done(langevin(x, v, f, box, keys, self.steps)[0], box)
        blocks = self.barostat_moves or self.steps // k
        first = self.steps - blocks * k
        keys, sub = split(keys)
        x, v, f = langevin(x, v, f, box, sub, first) if first else (x, v, f)

        def block(carry, keys):  # k Langevin steps, then a volume move
            y, v, f, b = carry
            k1, k2 = split(keys)
            y, v, f = langevin(y, v, f, b, k1, k)
            y, f, b = volume_move(k2, y, f, b)
            return (y, v, f, b), None

        (x, _, _, box), _ = jax.lax.scan(block, (x, v, f, box), steps_of(keys, blocks))
        return done(x, box)


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
