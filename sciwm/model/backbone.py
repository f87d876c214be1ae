"""E(3)-equivariant velocity network (e3nn-jax irreps, flax linen).

Given the flow state x_s, the start frame x_t, atom types and scalar conditions (temperature,
pressure, lag, flow time), it returns a per-atom velocity (1o vectors, nm per unit flow time) and,
under NPT, a scalar rate for log volume. Message passing over the k-nearest-neighbour graph of x_s
(minimum image under periodic boundaries); edge features are spherical harmonics of r_ij and radial
bases of |r_ij| in both x_s and x_t; the node vector input is the displacement x_s - x_t. Every
input enters through differences of positions, so the output is translation invariant and
rotation/inversion equivariant; neighbours are summed, so it is permutation equivariant.
"""
from __future__ import annotations

import e3nn_jax as e3nn
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from sciwm.model.config import ModelConfig
from sciwm.model.graph import displacement, knn_graph
from sciwm.model.message import EdgeMessage

N_CONDITIONS = 5  # (T/300K - 1, P/1 kbar, NPT flag, log(lag/1ps), flow time s)


def conditions(temperature_k, pressure_bar, lag_ps, s):
    """Scalar conditioning vector (..., N_CONDITIONS); pressure NaN means NVT."""
    npt = ~jnp.isnan(pressure_bar)
    return jnp.stack([temperature_k / 300.0 - 1.0, jnp.where(npt, pressure_bar / 1000.0, 0.0),
                      npt.astype(jnp.float32), jnp.log(lag_ps), s], axis=-1)


class Interaction(nn.Module):
    irreps_str: str  # flax would turn an Irreps attribute into a plain tuple
    avg_neighbors: float

    @nn.compact
    def __call__(self, h, idx, sh, radial, mask):
        irreps = e3nn.Irreps(self.irreps_str)
        message = EdgeMessage(irreps, sh.irreps)  # [h_j, h_j (x) sh_ij] with one radial weight per irrep
        weights = e3nn.flax.MultiLayerPerceptron((32, message.irreps_out.num_irreps), act=jax.nn.silu,
                                                 output_activation=False)(radial)
        weights = weights * (mask / np.sqrt(self.avg_neighbors))[..., None]
        agg = e3nn.IrrepsArray(message.irreps_out, message(h.array, idx, sh.array, weights))
        gate_irreps = e3nn.Irreps(f"{irreps.filter(drop=['0e', '0o']).num_irreps}x0e")
        out = e3nn.flax.Linear(irreps + gate_irreps, force_irreps_out=True)(e3nn.concatenate([h, agg]))
        out = e3nn.gate(out)
        return (e3nn.flax.Linear(irreps, force_irreps_out=True)(h) + out) / np.sqrt(2.0)  # keep the variance


class VelocityNet(nn.Module):
    config: ModelConfig

    @nn.compact
    def __call__(self, x_s, x_t, species, box, cond, scale):
        """One configuration: x_s, x_t (n, 3) nm; species (n,) int; box (3,) nm or None;
        cond (N_CONDITIONS,); scale: displacement scale of this lag, nm. Returns velocity
        (n, 3) nm per unit flow time and log-volume rate (scalar)."""
        c = self.config
        x_s, x_t, species = jnp.asarray(x_s), jnp.asarray(x_t), jnp.asarray(species)
        box = None if box is None else jnp.asarray(box)
        n = x_s.shape[0]
        k = min(c.n_neighbors, n - 1)
        hidden = e3nn.Irreps(f"{c.hidden_scalars}x0e + {c.hidden_vectors}x1o + {c.hidden_vectors}x1e")
        idx, vec, dist = knn_graph(x_s, box, k)
        vec_t = displacement(x_t[:, None, :], x_t[idx], box)
        dist_t = jnp.sqrt(jnp.sum(vec_t**2, axis=-1) + 1e-12)
        mask = (dist < c.cutoff_nm).astype(x_s.dtype) * e3nn.poly_envelope(5, 2)(dist / c.cutoff_nm)
        radial = jnp.concatenate([
            e3nn.soft_one_hot_linspace(dist, start=0.0, end=c.cutoff_nm, number=c.n_radial, basis="smooth_finite", cutoff=True),
            e3nn.soft_one_hot_linspace(dist_t, start=0.0, end=c.cutoff_nm, number=c.n_radial, basis="smooth_finite", cutoff=True),
        ], axis=-1) * jnp.sqrt(c.n_radial)
        sh = e3nn.spherical_harmonics(e3nn.Irreps.spherical_harmonics(c.lmax)[1:], vec, normalize=True, normalization="component")

        onehot = jax.nn.one_hot(species, len(c.species))
        cond_emb = e3nn.flax.MultiLayerPerceptron((32, c.hidden_scalars), act=jax.nn.silu)(cond[None, :])
        scalars = nn.Dense(c.hidden_scalars)(onehot) + cond_emb
        disp = (x_s - x_t) / scale
        h = e3nn.concatenate([e3nn.IrrepsArray(f"{c.hidden_scalars}x0e", scalars), e3nn.IrrepsArray("1x1o", disp)])
        h = e3nn.flax.Linear(hidden, force_irreps_out=True)(h)  # 1e starts at zero
        for _ in range(c.n_layers):
            h = Interaction(str(hidden), float(k))(h, idx, sh, radial, mask)
        gain = self.param("output_gain", nn.initializers.constant(0.1), ())  # small outputs at init
        velocity = e3nn.flax.Linear("1x1o")(h).array * scale * gain
        velocity = velocity - velocity.mean(axis=0)  # no net drift of the centre of mass
        log_volume_rate = jnp.mean(e3nn.flax.Linear("1x0e")(h).array) * c.log_volume_scale
        return velocity, log_volume_rate
