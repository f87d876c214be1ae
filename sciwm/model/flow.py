"""Conditional flow matching from x_t to x_{t+lag}.

Why flow matching: a simulation-free regression loss (stable on CPU, no score-network
discretisation), deterministic few-step ODE sampling whose cost we control, and exact
equivariance in distribution when the base distribution is isotropic around x_t and the
velocity field is equivariant.

Base: x_0 = x_t + sigma(lag) eps, eps ~ N(0, I) with zero mean over atoms. Target x_1 =
x_{t+lag}, rigidly aligned onto x_t for molecules (Kabsch, centroid of x_t) and with the centroid
drift removed for periodic systems. Path x_s = (1 - s) x_0 + s x_1, target velocity x_1 - x_0.
Under NPT the log volume follows the same linear path, and every box length scales with
exp(d log V / 3); positions are strained with the box (as the barostat does) outside the flow,
which learns only the moves in the box's own frame (config.box_strain). Units: nm, ps.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from sciwm.model.backbone import VelocityNet, conditions
from sciwm.model.config import ModelConfig
from sciwm.model.graph import bonded_neighbours

# draws per jump before a replica that keeps flipping a chirality stops: redraws are rejection
# sampling of the chirality-keeping jumps, and a weak model's rare frames keep only a few percent
MAX_DRAWS = 32


def kabsch_align(x, ref):
    """Rotate/translate x (n, 3) onto ref (n, 3) (proper rotation, least squares, equal weights)."""
    xc, rc = x - x.mean(0), ref - ref.mean(0)
    u, _, vt = jnp.linalg.svd(xc.T @ rc)
    d = jnp.sign(jnp.linalg.det(u @ vt))
    u = u.at[:, -1].multiply(d)
    return xc @ (u @ vt) + ref.mean(0)


def displacement_scale(config: ModelConfig, lag_ps):
    """rms displacement per coordinate at this lag, log-log interpolation of the data table, nm."""
    lags = jnp.log(jnp.asarray(config.lag_table_ps))
    scales = jnp.log(jnp.asarray(config.scale_table_nm))
    return jnp.exp(jnp.interp(jnp.log(lag_ps), lags, scales))


def scale_about_centroid(x, factor):
    """Positions scaled about their centroid, per axis (factor: scalar or (3,))."""
    c = x.mean(0)
    return c + (x - c) * factor


def align_target(x_t, x_1, align: bool, box_ratio=None):
    """x_1 rigidly aligned onto x_t (molecules), or with its centroid drift removed (periodic).
    box_ratio = box_t / box_1 (NPT): x_1 is first scaled back into x_t's box, undoing the
    barostat's affine scaling of positions - a uniform strain that a translation-invariant
    velocity field cannot produce; the sampler applies it from the volume move instead."""
    if align:
        return kabsch_align(x_1, x_t)
    if box_ratio is not None:
        x_1 = scale_about_centroid(x_1, box_ratio)
    return x_1 - (x_1 - x_t).mean(0)


def _noise(key, shape):
    eps = jax.random.normal(key, shape)
    return eps - eps.mean(-2, keepdims=True)


def _box_at(box_t, log_dv):
    return None if box_t is None else box_t * jnp.exp(log_dv / 3.0)


def flow_conditions(config: ModelConfig, temperature, pressure, lag_ps, s, box_t, log_dv, n_atoms: int):
    """The network's scalar conditions (backbone.conditions), plus, for models with volume
    conditions (config.log_volume_mean set), the start frame's standardised log volume per atom
    and the flow state's log-volume change over log_volume_scale."""
    cond = conditions(temperature, pressure, lag_ps, s)
    if config.log_volume_mean is None:
        return cond
    log_v = jnp.log(jnp.prod(box_t) / n_atoms)
    extra = jnp.stack([(log_v - config.log_volume_mean) / config.log_volume_std, log_dv / config.log_volume_scale])
    return jnp.concatenate([cond, extra.astype(cond.dtype)])


def loss_one(net: VelocityNet, params, key, species, x_t, x_1, box_t, box_1, temperature, pressure, lag_ps):
    """Flow-matching loss of one window (x_t -> x_1), normalised by the lag's displacement scale."""
    config = net.config
    k_s, k_x, k_v = jax.random.split(key, 3)
    scale = displacement_scale(config, lag_ps)
    x_1 = align_target(x_t, x_1, config.align, box_t / box_1 if config.npt and config.box_strain else None)
    s = jax.random.uniform(k_s)
    x_0 = x_t + config.base_sigma * scale * _noise(k_x, x_t.shape)
    x_s = (1 - s) * x_0 + s * x_1
    log_dv_1 = log_dv_0 = log_dv_s = jnp.float32(0.0)
    if config.npt:
        log_dv_1 = 3.0 * jnp.log(box_1[0] / box_t[0])
        log_dv_0 = config.base_sigma * config.log_volume_scale * jax.random.normal(k_v)
        log_dv_s = (1 - s) * log_dv_0 + s * log_dv_1
    cond = flow_conditions(config, temperature, pressure, lag_ps, s, box_t, log_dv_s, x_t.shape[0])
    v, v_logv = net.apply(params, x_s, x_t, species, _box_at(box_t, log_dv_s), cond, scale)
    loss = jnp.mean((v - (x_1 - x_0)) ** 2) / scale**2
    if config.npt:
        loss = loss + ((v_logv - (log_dv_1 - log_dv_0)) / config.log_volume_scale) ** 2 / x_t.shape[0]
    return loss


def batch_loss(net, params, key, batch):
    """Mean loss over a batch dict with x_t, x_1 (B, n, 3), box_t, box_1 (B, 3) or None,
    temperature, pressure, lag_ps (B,), species (n,)."""
    return jnp.mean(window_losses(net, params, jax.random.split(key, batch["x_t"].shape[0]), batch))


def window_losses(net, params, keys, batch):
    """Each window's loss (B,) with its own key (keys: B keys); batch as in batch_loss."""
    box_axes = 0 if batch.get("box_t") is not None else None
    return jax.vmap(lambda k, xt, x1, bt, b1, T, P, lag: loss_one(net, params, k, batch["species"], xt, x1, bt, b1, T, P, lag),
                    in_axes=(0, 0, 0, box_axes, box_axes, 0, 0, 0))(
        keys, batch["x_t"], batch["x_1"], batch.get("box_t"), batch.get("box_1"),
        batch["temperature"], batch["pressure"], batch["lag_ps"])


def loss_and_grad(net, params, key, batch, micro_batch: int | None = None):
    """batch_loss and its gradient. micro_batch m (dividing B): the gradient summed over B / m
    micro-batches in a loop - the same loss and gradient (each window keeps its key), computed
    in pieces small enough to stay in a CPU's cache."""
    n = batch["x_t"].shape[0]
    if not micro_batch or micro_batch >= n:
        return jax.value_and_grad(lambda p: batch_loss(net, p, key, batch))(params)
    if n % micro_batch:
        raise ValueError(f"micro_batch {micro_batch} does not divide the batch of {n}")
    split = lambda a: a.reshape((n // micro_batch, micro_batch) + a.shape[1:])
    pieces = {k: split(v) for k, v in batch.items() if k != "species"}
    value_and_grad = jax.value_and_grad(lambda p, k, b: jnp.sum(window_losses(net, p, k, b)))

    def add(total, piece):
        keys, part = piece
        loss, grads = value_and_grad(params, keys, part | {"species": batch["species"]})
        return jax.tree_util.tree_map(jnp.add, total, (loss, grads)), None

    zero = (jnp.float32(0.0), jax.tree_util.tree_map(jnp.zeros_like, params))
    total, _ = jax.lax.scan(add, zero, (split(jax.random.split(key, n)), pieces))
    return jax.tree_util.tree_map(lambda a: a / n, total)


def sample_one(net: VelocityNet, params, key, species, x_t, box_t, temperature, pressure, lag_ps, n_steps: int):
    """One jump: x_{t+lag} (n, 3) and box (3,) or None, by n_steps midpoint steps of the ODE
    (2 network evaluations each) from a base sample."""
    config = net.config
    k_x, k_v = jax.random.split(key)
    scale = displacement_scale(config, lag_ps)
    x = x_t + config.base_sigma * scale * _noise(k_x, x_t.shape)
    moves = jnp.where(jnp.isnan(pressure), 0.0, float(config.npt))  # NVT segments (and NVT models) keep the box
    log_dv = moves * config.base_sigma * config.log_volume_scale * jax.random.normal(k_v)
    ds = 1.0 / n_steps

    def step(carry, i):
        x, log_dv = carry
        # midpoint rule (second order): a half Euler step, then the full step with the mid velocity
        cond = flow_conditions(config, temperature, pressure, lag_ps, i * ds, box_t, log_dv, x_t.shape[0])
        v, v_logv = net.apply(params, x, x_t, species, _box_at(box_t, log_dv), cond, scale)
        x_mid, logv_mid = x + 0.5 * ds * v, log_dv + 0.5 * ds * v_logv * moves
        cond = flow_conditions(config, temperature, pressure, lag_ps, (i + 0.5) * ds, box_t, logv_mid, x_t.shape[0])
        v, v_logv = net.apply(params, x_mid, x_t, species, _box_at(box_t, logv_mid), cond, scale)
        return (x + ds * v, log_dv + ds * v_logv * moves), None

    (x, log_dv), _ = jax.lax.scan(step, (x, log_dv), jnp.arange(n_steps, dtype=jnp.float32))
    if config.npt and config.box_strain:
        x = scale_about_centroid(x, jnp.exp(log_dv / 3.0))
    if config.constraint_pairs:
        x = project_distances(x, jnp.asarray(config.constraint_pairs, jnp.int32),
                              jnp.asarray(config.constraint_lengths_nm, jnp.float32))
    return x, _box_at(box_t, log_dv)


def project_distances(x, pairs, lengths, iterations: int = 60):
    """Move atoms (equal weights) so that |x_j - x_i| approaches lengths for every pair: Jacobi
    SHAKE iterations, each atom moving by the mean of its pair corrections. x (n, 3) nm,
    pairs (m, 2) int, lengths (m,) nm. Equivariant: corrections act along pair vectors."""
    i, j = pairs[:, 0], pairs[:, 1]
    count = jnp.zeros(x.shape[0], x.dtype).at[i].add(1.0).at[j].add(1.0)
    count = jnp.maximum(count, 1.0)[:, None]

    def body(_, x):
        r = x[j] - x[i]
        dist = jnp.sqrt(jnp.sum(r**2, axis=-1, keepdims=True))
        corr = 0.5 * (dist - lengths[:, None]) / dist * r
        delta = jnp.zeros_like(x).at[i].add(corr).at[j].add(-corr)
        return x + delta / count

    return jax.lax.fori_loop(0, iterations, body, x)


def chirality_kept(config: ModelConfig, x):
    """True when every conserved signed volume of config.chiral_quads keeps its sign in x."""
    if not config.chiral_quads:
        return jnp.bool_(True)
    q = jnp.asarray(config.chiral_quads, jnp.int32)
    c = x[q[:, 0]]
    vol = jnp.linalg.det(jnp.stack([x[q[:, k]] - c for k in (1, 2, 3)], axis=-2))
    return jnp.all(vol * jnp.asarray(config.chiral_signs, jnp.float32) > 0)


def permutable_pairs(config: ModelConfig, topology) -> np.ndarray:
    """For each conserved signed volume (config.chiral_quads): two of its centre's listed neighbours
    that are interchangeable - the same element, bonded to the centre alone (a methyl's or a
    methylene's hydrogens) - or (-1, -1). (len(quads), 2) int32."""
    bonded = bonded_neighbours(topology)
    elements = [atom.element.symbol for atom in topology.atoms]
    pairs = []
    for centre, *neighbours in config.chiral_quads:
        terminal = [i for i in neighbours if bonded.get(i) == [centre]]
        same = [(i, j) for k, i in enumerate(terminal) for j in terminal[k + 1:] if elements[i] == elements[j]]
        pairs.append(same[0] if same else (-1, -1))
    return np.array(pairs, np.int32).reshape(-1, 2)


def relabel_flipped(config: ModelConfig, x, pairs):
    """x (n, 3) with the two interchangeable atoms of every flipped signed volume swapped: the same
    configuration (identical atoms), labelled as MD's, which never flips them. A 1-ns jump of the
    CPU model puts a methyl's three hydrogens in the mirror labelling in ~30% of draws (a real
    stereocentre, alanine's CA, in 0.3%); relabelling instead of redrawing keeps the jump."""
    for (centre, a, b, c), sign, (i, j) in zip(config.chiral_quads, config.chiral_signs, pairs):
        if i < 0:
            continue
        vol = jnp.linalg.det(jnp.stack([x[a] - x[centre], x[b] - x[centre], x[c] - x[centre]]))
        x = jnp.where(vol * sign < 0, x.at[jnp.array([i, j])].set(x[jnp.array([j, i])]), x)
    return x


def sample_members(net: VelocityNet, params, key, species, x_t, box_t, temperature, pressure, lag_ps,
                   n_steps: int, pairs=None):
    """Every member of stacked params jumps from x_t with the same noise: x (K, n, 3), box (K, 3)
    or None, and whether each kept the conserved chiralities (K,), after relabelling the
    interchangeable atoms of flipped ones (pairs: permutable_pairs; None: none)."""
    xs, boxes = jax.vmap(lambda p: sample_one(net, p, key, species, x_t, box_t, temperature, pressure, lag_ps,
                                              n_steps))(params)
    if pairs is not None:
        xs = jax.vmap(lambda x: relabel_flipped(net.config, x, pairs))(xs)
    return xs, boxes, jax.vmap(lambda x: chirality_kept(net.config, x))(xs)


def redraw_flipped(draw, keys, *per_replica, max_tries: int = MAX_DRAWS):
    """A batch of R jumps, drawn again while they flip a conserved chirality (up to max_tries each).

    draw(keys (m, 2), *per_replica rows) -> (samples, kept (m,)) for any m; per_replica are arrays with
    leading axis R (or None), passed to draw for the replicas being drawn; samples is a pytree with
    leading axis m. Redraws take ceil(R / 8) failed replicas at a time, so one replica's redraw costs an
    eighth of the batch's draw rather than all of it (as a per-replica while_loop under vmap would).
    Returns (samples, kept (R,)); kept is False where every try failed."""
    R = keys.shape[0]
    m = -(-R // 8)
    split = jax.vmap(lambda k: tuple(jax.random.split(k)))
    keys, sub = split(keys)
    samples, kept = draw(sub, *per_replica)

    def pending(tries, kept):
        return ~kept & (tries < max_tries)

    def again(carry):
        keys, tries, samples, kept = carry
        idx = jnp.nonzero(pending(tries, kept), size=m, fill_value=R)[0]  # R: no replica, dropped below
        at = jnp.minimum(idx, R - 1)
        new_keys, sub = split(keys[at])
        drawn, ok = draw(sub, *(None if a is None else a[at] for a in per_replica))
        put = lambda a, b: a.at[idx].set(b, mode="drop")
        return (put(keys, new_keys), tries.at[idx].add(1, mode="drop"), jax.tree_util.tree_map(put, samples, drawn),
                put(kept, ok))

    carry = (keys, jnp.ones(R, jnp.int32), samples, kept)
    _, _, samples, kept = jax.lax.while_loop(lambda c: jnp.any(pending(c[1], c[3])), again, carry)
    return samples, kept
