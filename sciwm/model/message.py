"""Weighted equivariant messages summed over neighbours, in one pass and channels last.

For node features h (irreps, e.g. 64x0e + 16x1o + 16x1e) and edge spherical harmonics sh,
`EdgeMessage(irreps, sh_irreps)(h, idx, sh, weights)` returns

    agg_i = sum_j weights_ij * [h_j, h_j (x) sh_ij]

in exactly the layout (and with the same values, up to float round-off) of e3nn-jax's

    msg = e3nn.concatenate([h[idx], e3nn.tensor_product(h[idx], sh, filter_ir_out=irreps)]).regroup()
    agg = e3nn.sum(msg * weights, axis=1)

where weights hold one scalar per irrep of msg and edge. The Clebsch-Gordan coefficients and
normalisation are e3nn's ("component"); tests/model/test_message.py checks both against e3nn.

Why: e3nn builds msg as ~20 separate small arrays per layer (one per path, mul-major) and then
scales it with a gather; on a CPU the emulator's network spent ~3/4 of its time there (ala2-large,
22 atoms, 462 edges: 0.56 of 0.75 ms per layer on one core, XLA's per-op cost and memory traffic,
not arithmetic). Here each input irrep type is one contraction with the channel axis contiguous
and the weights broadcast per path: the whole network 1.5x faster, 2.2x with configure_cpu's XLA
flag (benchmarks/network.py; benchmarks/README.md, eleventh session).
"""
from __future__ import annotations

import e3nn_jax as e3nn
import jax.numpy as jnp
import numpy as np


class EdgeMessage:
    """A static plan: built once per (irreps, sh_irreps), applied to plain arrays."""

    def __init__(self, irreps, sh_irreps):
        irreps, sh_irreps = e3nn.Irreps(irreps), e3nn.Irreps(sh_irreps)
        if irreps != irreps.regroup():
            raise ValueError(f"node irreps must be sorted and simplified, got {irreps}")
        chunks = [(ir, mul) for mul, ir in irreps]  # msg's chunks before the final regroup: h itself, ...
        tp_chunks, paths = [], []  # ... then the tensor product's, which e3nn regroups (stable sort) first
        for mul, ir1 in irreps:
            per_input = [(None, None, None, ir1.dim)]  # (tensor-product chunk, (l1, l2, l_out), sh slice, out dim)
            start = 0
            for _, ir2 in sh_irreps:
                for ir_out in ir1 * ir2:
                    if ir_out in irreps:
                        per_input.append((len(tp_chunks), (ir1.l, ir2.l, ir_out.l), slice(start, start + ir2.dim), ir_out.dim))
                        tp_chunks.append((ir_out, mul))
                start += ir2.dim
            paths.append(per_input)
        tp_order = sorted(range(len(tp_chunks)), key=lambda q: tp_chunks[q][0])
        tp_chunk_id = {q: len(chunks) + r for r, q in enumerate(tp_order)}
        chunks += [tp_chunks[q] for q in tp_order]
        self.order = sorted(range(len(chunks)), key=lambda q: chunks[q][0])  # the final regroup (stable)
        first_weight, col = {}, 0
        for q in self.order:
            first_weight[q] = col
            col += chunks[q][1]

        # per input irrep: the dense map (d_in, 1 + sh dim, K) from [1, sh] to all its K output components
        self.plans = []
        offset = 0
        for i, ((mul, ir1), per_input) in enumerate(zip(irreps, paths)):
            K = sum(d for *_, d in per_input)
            coupling = np.zeros((ir1.dim, 1 + sh_irreps.dim, K), np.float32)
            layout, k = [], 0
            for source, lls, sh_slice, d in per_input:
                if source is None:
                    coupling[:, 0, k:k + d] = np.eye(d)  # the identity: h_j itself
                    chunk = i  # h's own chunks come first, in order
                else:
                    cg = np.asarray(e3nn.clebsch_gordan(*lls)) * np.sqrt(d)  # "component" normalisation
                    coupling[:, 1 + sh_slice.start:1 + sh_slice.stop, k:k + d] = cg
                    chunk = tp_chunk_id[source]
                layout.append((chunk, first_weight[chunk], k, d))
                k += d
            self.plans.append((offset, mul, ir1.dim, coupling, layout))
            offset += mul * ir1.dim
        self.irreps_out = e3nn.Irreps([(chunks[q][1], chunks[q][0]) for q in self.order]).simplify()

    def __call__(self, h, idx, sh, weights):
        """h (n, irreps.dim); idx (n, k) neighbour indices; sh (n, k, sh dim); weights (n, k,
        irreps_out.num_irreps). Returns (n, irreps_out.dim)."""
        n, k = idx.shape
        sh1 = jnp.concatenate([jnp.ones((n, k, 1), sh.dtype), sh], axis=-1)
        out = {}
        for offset, mul, dim, coupling, layout in self.plans:
            x = jnp.swapaxes(h[:, offset:offset + mul * dim].reshape(n, mul, dim), -1, -2)[idx]  # (n, k, dim, mul)
            s = jnp.einsum("ijb,abk->ijak", sh1, jnp.asarray(coupling, h.dtype))  # (n, k, dim, K)
            w = jnp.concatenate([jnp.broadcast_to(weights[..., None, c:c + mul], (n, k, d, mul))
                                 for _, c, _, d in layout], axis=-2)  # (n, k, K, mul): each path's weight
            g = sum(s[..., a, :, None] * x[..., a, None, :] for a in range(dim))  # (n, k, K, mul)
            summed = jnp.sum(g * w, axis=1)  # (n, K, mul)
            for chunk, _, start, d in layout:
                out[chunk] = jnp.swapaxes(summed[:, start:start + d], -1, -2).reshape(n, mul * d)
        return jnp.concatenate([out[q] for q in self.order], axis=-1)


def reference_message(irreps, sh_irreps, h, idx, sh, weights):
    """The same sum written with e3nn-jax's own operations: the definition EdgeMessage must match
    (tests/model/test_message.py). benchmarks/network.py times the tenth session's code instead,
    which weighted the irreps by a gather rather than by e3nn's multiplication."""
    irreps = e3nn.Irreps(irreps)
    hj = e3nn.IrrepsArray(irreps, h)[idx]
    msg = e3nn.concatenate([hj, e3nn.tensor_product(hj, e3nn.IrrepsArray(sh_irreps, sh), filter_ir_out=irreps)])
    return e3nn.sum(msg.regroup() * weights, axis=1).array
