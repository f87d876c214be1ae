"""An OpenMM System's potential energy as a JAX function, for the emulator's force-field corrector.

`jax_energy(omm_system)` reads the parameters of the forces sciwm's systems use and returns
`energy(x, box) -> kJ/mol` for positions x (n, 3) nm and orthorhombic box lengths (3,) nm (None
when not periodic). Supported: HarmonicBondForce, HarmonicAngleForce, PeriodicTorsionForce,
NonbondedForce (NoCutoff; CutoffNonPeriodic/CutoffPeriodic with reaction-field Coulomb, truncated
Lennard-Jones and the long-range dispersion correction), GBSAOBCForce (OBC II, NoCutoff), and
CMMotionRemover / MonteCarloBarostat (no energy). Anything else raises InputError, and so does a
System with constraints (OpenMM leaves constrained bonds without an energy term: build it with
flexible bonds). Pairs are dense (n x n), which suits the small systems the emulator runs.
`jax_force(omm_system)` returns force(x, box) -> (n, 3) kJ/mol/nm: written out for bonds, angles,
torsions, Lennard-Jones and Coulomb (3x faster than differentiating their energies on a CPU:
ala2-implicit, 16 replicas, 9.0 -> 4.2 us per replica for the bonded forces, 6.5 -> 1.9 for
Lennard-Jones + Coulomb), the gradient of the energy for OBC; tested against both.
With `batched=True` both take R configurations with the replicas as the innermost axis, x (n, 3, R)
and box (3, R) (`sciwm.model.graph.replicas_last`), the layout every term computes in: the
corrector relaxes all replicas at once in it (1000 steps of 1 fs, non-bonded every 2, 32 replicas
on one device: 1.46x the vmapped per-configuration forces; benchmarks/corrector_layout.py).
Units: nm, kJ/mol, radians, e.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import openmm
import openmm.unit as u

from sciwm.errors import InputError
from sciwm.model.graph import displacement

ONE_4PI_EPS0 = 138.935456  # kJ mol^-1 nm e^-2, OpenMM's value
OBC_OFFSET_NM, OBC_PROBE_NM = 0.009, 0.14
OBC_ALPHA, OBC_BETA, OBC_GAMMA = 1.0, 0.8, 4.85  # OBC II

Energy = Callable[[jnp.ndarray, jnp.ndarray | None], jnp.ndarray]  # (x (n, 3), box) -> kJ/mol
Force = Callable[[jnp.ndarray, jnp.ndarray | None], jnp.ndarray]  # (x, box) -> (n, 3) kJ/mol/nm


class Term(NamedTuple):
    """One force's energy and forces on a batch of R configurations with the replicas last:
    x (n, 3, R) nm, box (3, R) nm or None -> energy (R,) kJ/mol, force (n, 3, R) kJ/mol/nm. With
    the replica axis innermost, XLA's CPU code vectorises over the replicas instead of over the 3
    coordinates (ala2-implicit, 32 replicas, one core: OBC's gradient 10.2 -> 5.2 us per replica)."""
    energy: Callable
    force: Callable | None  # None: minus the gradient of energy


def _gather_matrix(n: int, atoms: np.ndarray) -> jnp.ndarray:
    """(n, m) matrix that adds per-term vectors (m, 3, R) onto their atoms (a matmul, not a scatter)."""
    out = np.zeros((n, len(atoms)), np.float32)
    np.add.at(out, (atoms, np.arange(len(atoms))), 1.0)
    return jnp.asarray(out)


def _onto(matrix, f):
    """Per-term vectors f (m, 3, R) summed onto atoms: (n, 3, R)."""
    return jnp.einsum("nm,mcr->ncr", matrix, f)


def _column(a) -> jnp.ndarray:
    """Per-term parameters (m,) as (m, 1): they broadcast over the replicas."""
    return jnp.asarray(a, jnp.float32)[:, None]


def _norm2(d, axis: int = 1):
    return jnp.sum(d * d, axis)  # (m, 3, R) -> (m, R); pairs (n, n, 3, R): axis 2


def _values(params) -> list[float]:
    """Strip OpenMM units (nm, kJ/mol, radians, e) from a parameter tuple."""
    return [p._value if isinstance(p, u.Quantity) else p for p in params]


def _table(force, count: str, get: str) -> np.ndarray:
    return np.array([_values(getattr(force, get)(i)) for i in range(getattr(force, count)())], dtype=np.float64)


def _bonds(force, n: int) -> Term:
    t = _table(force, "getNumBonds", "getBondParameters")
    i, j = t[:, 0].astype(int), t[:, 1].astype(int)
    r0, k = _column(t[:, 2]), _column(t[:, 3])
    to_j_minus_i = _gather_matrix(n, j) - _gather_matrix(n, i)

    def energy(x, box):
        return 0.5 * jnp.sum(k * (jnp.sqrt(_norm2(x[j] - x[i])) - r0) ** 2, 0)

    def forces(x, box):
        d = x[j] - x[i]
        r = jnp.sqrt(_norm2(d))
        return _onto(to_j_minus_i, (-k * (r - r0) / r)[:, None] * d)  # on j; the opposite on i
    return Term(energy, forces)


def _angles(force, n: int) -> Term:
    t = _table(force, "getNumAngles", "getAngleParameters")
    i, j, l = (t[:, c].astype(int) for c in range(3))
    theta0, k = _column(t[:, 3]), _column(t[:, 4])
    to_i, to_j, to_l = (_gather_matrix(n, a) for a in (i, j, l))
    limit = 1 - 1e-6

    def energy(x, box):
        a, b = x[i] - x[j], x[l] - x[j]
        cos = jnp.sum(a * b, 1) * jax.lax.rsqrt(_norm2(a) * _norm2(b))
        return 0.5 * jnp.sum(k * (jnp.arccos(jnp.clip(cos, -limit, limit)) - theta0) ** 2, 0)

    def forces(x, box):
        a, b = x[i] - x[j], x[l] - x[j]
        inv_a, inv_b = jax.lax.rsqrt(_norm2(a)), jax.lax.rsqrt(_norm2(b))
        cos = jnp.sum(a * b, 1) * inv_a * inv_b
        clipped = jnp.clip(cos, -limit, limit)
        # -dU/dcos = dU/dtheta / sin(theta); zero where the energy's clip is flat
        g = jnp.where(jnp.abs(cos) < limit, k * (jnp.arccos(clipped) - theta0) * jax.lax.rsqrt(1 - clipped**2), 0.0)
        f_i = (g * inv_a)[:, None] * (b * inv_b[:, None] - (cos * inv_a)[:, None] * a)
        f_l = (g * inv_b)[:, None] * (a * inv_a[:, None] - (cos * inv_b)[:, None] * b)
        return _onto(to_i, f_i) + _onto(to_l, f_l) - _onto(to_j, f_i + f_l)
    return Term(energy, forces)


def _torsions(force, n: int) -> Term:
    """Each distinct atom quadruple once: sum_n k_n (1 + cos(n phi - phase_n)) = sum of k_n plus
    a_n cos(n phi) + b_n sin(n phi), with cos(n phi), sin(n phi) from cos(phi), sin(phi) by angle
    addition: no arctan2 or cos, one dihedral per quadruple (ala2: 42 terms on 29 quadruples,
    force 5.5 -> 3.4 us per replica and step, 16 replicas, 2-core CPU; written out, 1.8 us)."""
    t = _table(force, "getNumTorsions", "getTorsionParameters")
    quads, where = np.unique(t[:, :4].astype(int), axis=0, return_inverse=True)
    n_max = int(t[:, 4].max())
    a, b = np.zeros((len(quads), n_max)), np.zeros((len(quads), n_max))
    for q, (periodicity, phase, k) in zip(where.ravel(), t[:, 4:7]):  # OpenMM: periodicity >= 1
        a[q, int(periodicity) - 1] += k * np.cos(phase)
        b[q, int(periodicity) - 1] += k * np.sin(phase)
    periodicities = np.arange(1, n_max + 1)
    # (quadruples, periodicities, 1): broadcast over the replicas; na, nb: dU/dphi
    na, nb, a, b = (jnp.asarray(c, jnp.float32)[:, :, None] for c in (a * periodicities, b * periodicities, a, b))
    constant = float(t[:, 6].sum())
    i, j, k, l = quads.T
    to_i, to_j, to_k, to_l = (_gather_matrix(n, atoms) for atoms in quads.T)

    def dihedral(x):
        b1, b2, b3 = x[j] - x[i], x[k] - x[j], x[l] - x[k]
        n1, n2 = jnp.cross(b1, b2, axis=1), jnp.cross(b2, b3, axis=1)
        # phi = atan2(y, c) with y = (n1 x n2) . b2 / |b2|, c = n1 . n2 (IUPAC sign, as OpenMM)
        y = jnp.sum(jnp.cross(n1, n2, axis=1) * b2, 1) * jax.lax.rsqrt(_norm2(b2))
        c = jnp.sum(n1 * n2, 1)
        norm = jax.lax.rsqrt(c * c + y * y)
        cos, sin = [c * norm], [y * norm]
        for _ in range(n_max - 1):
            cos, sin = cos + [cos[-1] * cos[0] - sin[-1] * sin[0]], sin + [sin[-1] * cos[0] + cos[-1] * sin[0]]
        return (b1, b2, b3, n1, n2), jnp.stack(cos, 1), jnp.stack(sin, 1)  # (m, n_max, R)

    def energy(x, box):
        _, cos, sin = dihedral(x)
        return constant + jnp.sum(a * cos + b * sin, (0, 1))

    def forces(x, box):
        (b1, b2, b3, n1, n2), cos, sin = dihedral(x)
        du_dphi = jnp.sum(nb * cos - na * sin, 1)
        b2_sq = _norm2(b2)
        scale = du_dphi * jnp.sqrt(b2_sq)
        f_i = (scale / _norm2(n1))[:, None] * n1  # -dU/dphi dphi/dx_i, dphi/dx_i = -|b2| n1 / |n1|^2
        f_l = -(scale / _norm2(n2))[:, None] * n2
        p = (jnp.sum(b1 * b2, 1) / b2_sq)[:, None]
        q = (jnp.sum(b3 * b2, 1) / b2_sq)[:, None]
        return (_onto(to_i, f_i) + _onto(to_j, q * f_l - (1 + p) * f_i) + _onto(to_k, p * f_i - (1 + q) * f_l)
                + _onto(to_l, f_l))
    return Term(energy, forces)


def _pairs(x, box):
    """x_j - x_i for all pairs (n, n, 3, R), minimum image when box (3, R) is given."""
    return displacement(x[:, None], x[None, :], box)


def _nonbonded(force, n: int) -> Term:
    """Coulomb and Lennard-Jones; an exception replaces its pair's interaction."""
    method = force.getNonbondedMethod()
    if method not in (openmm.NonbondedForce.NoCutoff, openmm.NonbondedForce.CutoffNonPeriodic,
                      openmm.NonbondedForce.CutoffPeriodic):
        raise InputError("the JAX force field supports NonbondedForce without Ewald/PME only")
    p = _table(force, "getNumParticles", "getParticleParameters")
    q, sig, eps = p[:, 0], p[:, 1], p[:, 2]
    qq, ss, ee = np.outer(q, q), 0.5 * (sig[:, None] + sig[None, :]), np.sqrt(np.outer(eps, eps))
    for i, j, qij, sij, eij in _table(force, "getNumExceptions", "getExceptionParameters"):
        i, j = int(i), int(j)
        qq[i, j] = qq[j, i] = qij
        ss[i, j] = ss[j, i] = sij
        ee[i, j] = ee[j, i] = eij
    np.fill_diagonal(qq, 0.0)
    np.fill_diagonal(ee, 0.0)
    np.fill_diagonal(ss, 1.0)
    cutoff = None if method == openmm.NonbondedForce.NoCutoff else force.getCutoffDistance().value_in_unit(u.nanometer)
    k_rf = c_rf = 0.0
    if cutoff is not None:
        eps_rf = force.getReactionFieldDielectric()
        k_rf = (eps_rf - 1) / ((2 * eps_rf + 1) * cutoff**3)
        c_rf = 1 / cutoff + k_rf * cutoff**2
    dispersion = 0.0
    if method == openmm.NonbondedForce.CutoffPeriodic and force.getUseDispersionCorrection():
        if force.getNumExceptions() or len(set(map(tuple, p[:, 1:]))) > 1:
            raise InputError("the JAX force field's dispersion correction assumes one atom type and no exceptions")
        # 8 pi N^2 / V (eps sigma^12 / (9 rc^9) - eps sigma^6 / (3 rc^3)), divided by V at call time
        s, e = sig[0], eps[0]
        dispersion = 8 * np.pi * n**2 * e * (s**12 / (9 * cutoff**9) - s**6 / (3 * cutoff**3))
    qq, ss, ee = (jnp.asarray(a, jnp.float32)[:, :, None] for a in (qq, ss, ee))  # (n, n, 1)
    off_diagonal = jnp.asarray(1.0 - np.eye(n), jnp.float32)[:, :, None]

    ss6, ee24, kqq = ss**6, 24 * ee, ONE_4PI_EPS0 * qq

    def energy(x, box):
        r = jnp.sqrt(_norm2(_pairs(x, box), 2) + (1 - off_diagonal))  # 1 on the diagonal
        inv6 = (ss / r) ** 6
        pair = 4 * ee * (inv6**2 - inv6)
        coulomb = ONE_4PI_EPS0 * qq * (1 / r + k_rf * r**2 - c_rf)
        within = off_diagonal if cutoff is None else jnp.where(r < cutoff, off_diagonal, 0.0)
        total = 0.5 * jnp.sum(within * (pair + coulomb), (0, 1))
        if dispersion and box is not None:
            total = total + dispersion / jnp.prod(box, 0)
        return total

    def forces(x, box):  # the dispersion correction depends on the volume only
        d = _pairs(x, box)  # x_j - x_i
        r2 = _norm2(d, 2) + (1 - off_diagonal)
        inv_r2 = 1 / r2
        s6 = ss6 * inv_r2**3
        within = off_diagonal if cutoff is None else jnp.where(r2 < cutoff**2, off_diagonal, 0.0)
        # -dU/dr / r per pair
        g = within * ((ee24 * (2 * s6 * s6 - s6) + kqq * jnp.sqrt(inv_r2)) * inv_r2 - 2 * k_rf * kqq)
        return -jnp.einsum("ijr,ijcr->icr", g, d)
    return Term(energy, forces)


def _obc(force, n: int) -> Term:
    """OBC II generalized Born (Onufriev-Bashford-Case 2004) with the ACE surface-area term, as
    OpenMM's GBSAOBCForce computes them (NoCutoff)."""
    if force.getNonbondedMethod() != openmm.GBSAOBCForce.NoCutoff:
        raise InputError("the JAX force field supports GBSAOBCForce without a cut-off only")
    p = _table(force, "getNumParticles", "getParticleParameters")
    q, radius, scale = (_column(p[:, c]) for c in range(3))  # (n, 1)
    offset_r = radius - OBC_OFFSET_NM
    scaled_r = scale * offset_r  # the j atoms' scaled radii
    pre = -ONE_4PI_EPS0 * (1 / force.getSoluteDielectric() - 1 / force.getSolventDielectric())
    sa = 4 * np.pi * force.getSurfaceAreaEnergy().value_in_unit(u.kilojoule_per_mole / u.nanometer**2)
    off_diagonal = jnp.asarray(1.0 - np.eye(n), jnp.float32)[:, :, None]
    i, j = np.triu_indices(n, 1)
    qq, q2 = _column(p[i, 0] * p[j, 0]), q**2
    ri, sj = offset_r[:, None], scaled_r[None, :]  # (n, 1, 1), (1, n, 1)

    def energy(x, box):
        r2 = _norm2(_pairs(x, None), 2) + (1 - off_diagonal)
        inv_r = jax.lax.rsqrt(r2)  # 1 on the diagonal
        r = r2 * inv_r
        lower = 1 / jnp.maximum(ri, jnp.abs(r - sj))
        upper = 1 / (r + sj)
        term = (lower - upper + 0.25 * r * (upper**2 - lower**2) + 0.5 * inv_r * jnp.log(upper / lower)
                + 0.25 * sj**2 * inv_r * (lower**2 - upper**2))
        term = term + jnp.where(ri < sj - r, 2 * (1 / ri - lower), 0.0)
        term = jnp.where((ri < r + sj) & (off_diagonal > 0), term, 0.0)
        psi = 0.5 * offset_r * jnp.sum(term, axis=1)  # (n, R)
        born = 1 / (1 / offset_r - jnp.tanh(OBC_ALPHA * psi - OBC_BETA * psi**2 + OBC_GAMMA * psi**3) / radius)
        nonpolar = sa * jnp.sum((radius + OBC_PROBE_NM) ** 2 * (radius / born) ** 6, 0)
        # 1/2 sum over all i, j of q_i q_j / f_ij: each pair i < j once, plus half the i == j terms (f_ii = born_i)
        r2, bb = r2[i, j], born[i] * born[j]
        polar = pre * (jnp.sum(qq * jax.lax.rsqrt(r2 + bb * jnp.exp(-r2 / (4 * bb))), 0) + 0.5 * jnp.sum(q2 / born, 0))
        return nonpolar + polar
    return Term(energy, None)


def bonded_pairs(omm: openmm.System) -> np.ndarray:
    """(n_bonds, 2) atom indices of every HarmonicBondForce term."""
    pairs = [_table(f, "getNumBonds", "getBondParameters")[:, :2] for f in omm.getForces()
             if isinstance(f, openmm.HarmonicBondForce)]
    return np.concatenate(pairs).astype(int) if pairs else np.zeros((0, 2), int)


def _terms(omm: openmm.System, part: str) -> list[Term]:
    if omm.getNumConstraints():
        raise InputError("the JAX force field needs a System without constraints "
                         "(constrained bonds have no energy term)")
    if part not in ("all", "bonded", "nonbonded"):
        raise ValueError(f"unknown part {part!r}")
    n = omm.getNumParticles()
    terms = []
    for force in omm.getForces():
        if isinstance(force, openmm.HarmonicBondForce):
            term, bonded = _bonds(force, n), True
        elif isinstance(force, openmm.HarmonicAngleForce):
            term, bonded = _angles(force, n), True
        elif isinstance(force, openmm.PeriodicTorsionForce):
            term, bonded = _torsions(force, n), True
        elif isinstance(force, openmm.NonbondedForce):
            term, bonded = _nonbonded(force, n), False
        elif isinstance(force, openmm.GBSAOBCForce):
            term, bonded = _obc(force, n), False
        elif isinstance(force, (openmm.CMMotionRemover, openmm.MonteCarloBarostat)):
            continue
        else:
            raise InputError(f"the JAX force field does not support {type(force).__name__}")
        if part == "all" or bonded == (part == "bonded"):
            terms.append(term)
    return terms


def _batch_energy(terms: list[Term]):
    return lambda x, box: sum(term.energy(x, box) for term in terms)


def _batch_force(terms: list[Term]):
    written = [t.force for t in terms if t.force is not None]
    rest = _batch_energy([t for t in terms if t.force is None])
    # replicas are independent: the gradient of their summed energies is each one's gradient
    minus_grad = jax.grad(lambda x, box: -jnp.sum(rest(x, box))) if len(written) < len(terms) else None

    def force(x, box):
        total = sum((f(x, box) for f in written), jnp.zeros_like(x))
        return total + minus_grad(x, box) if minus_grad else total
    return force


def jax_energy(omm: openmm.System, part: str = "all", batched: bool = False) -> Energy:
    """energy(x (n, 3) nm, box (3,) nm or None) -> potential energy in kJ/mol, float32. part: "all",
    "bonded" (bonds, angles, torsions: the fast forces) or "nonbonded" (the rest, slow). batched:
    energy(x (n, 3, R), box (3, R) or None) -> (R,), replicas last (graph.replicas_last)."""
    energy = _batch_energy(_terms(omm, part))
    if batched:
        return energy
    return lambda x, box=None: energy(x[..., None], None if box is None else box[:, None])[0]


def jax_force(omm: openmm.System, part: str = "all", batched: bool = False) -> Force:
    """force(x (n, 3) nm, box (3,) nm or None) -> (n, 3) kJ/mol/nm, minus the gradient of
    jax_energy(omm, part): written out where a term has it, differentiated where not. batched:
    force(x (n, 3, R), box (3, R) or None) -> (n, 3, R)."""
    force = _batch_force(_terms(omm, part))
    if batched:
        return force
    return lambda x, box=None: force(x[..., None], None if box is None else box[:, None])[..., 0]
