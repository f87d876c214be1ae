"""R-hat: invariant observable heads that score frames without a force-field call.

`EnergyHead` predicts the potential energy (kJ/mol) of a frame from its positions and the
temperature set-point: per-atom
descriptors (Gaussian radial basis of the distances to the k nearest atoms, minimum image when
periodic, smoothly cut off, split by neighbour species) go through an MLP to atomic energies that
are summed. Invariant under rotations, inversion, translations and permutations of identical
atoms by construction. Trained by least squares on the per-frame potential energies the reference
engines log, as an ensemble of K heads (stacked parameters, vmapped; each on a bootstrap resample
of the frames), so every prediction comes with a member spread.

Why the temperature: in a molecule most of the energy fluctuation sits in fast bond and angle
vibrations that a coarse frame (and the emulator, which holds covalent geometry at its mean) does
not resolve. Least squares then learns E[U | slow coordinates, T], the energy averaged over the
fast modes at that temperature: unbiased for window averages, not for single frames.

What a head cannot resolve is measured, not hidden: `residual_std_per_k` is the rms of each
member's out-of-bag residuals over the temperature (per-frame fast-mode energy grows ~ T by
equipartition), so a prediction of one run's mean energy over F frames adds (c T)^2 / F to the
variance (sciwm.world.bundle, target "run").

Density needs no head: under NPT the emulator moves the box, and density is computed exactly.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from sciwm.data.files import write_bytes_atomic, write_json_atomic
from sciwm.errors import InputError
from sciwm.model.graph import knn_graph


@dataclass(frozen=True)
class HeadConfig:
    """species: element symbols in index order; n_neighbors, cutoff_nm: the local environment;
    n_radial: basis functions; hidden: MLP width; periodic: minimum image; members: ensemble size;
    energy_mean, energy_std: standardisation of the target (kJ/mol, per frame); residual_std_per_k:
    out-of-bag rms per-frame residual over the temperature, kJ/mol/K (None: not measured)."""

    species: tuple[str, ...]
    n_neighbors: int = 16
    cutoff_nm: float = 0.6
    n_radial: int = 16
    hidden: int = 64
    periodic: bool = False
    members: int = 4
    energy_mean: float = 0.0
    energy_std: float = 1.0
    residual_std_per_k: float | None = None

    @classmethod
    def from_json(cls, data: dict) -> "HeadConfig":
        return cls(**(dict(data) | {"species": tuple(data["species"])}))


class EnergyHead(nn.Module):
    config: HeadConfig

    @nn.compact
    def __call__(self, x, species, box, temperature):
        """x (n, 3) nm, species (n,) int, box (3,) nm or None, temperature K -> standardised
        energy (scalar)."""
        c = self.config
        k = min(c.n_neighbors, x.shape[0] - 1)
        idx, _, r = knn_graph(x, box if c.periodic else None, k)
        centres = jnp.linspace(0.08, c.cutoff_nm, c.n_radial)
        width = centres[1] - centres[0]
        envelope = jnp.where(r < c.cutoff_nm, 0.5 * (jnp.cos(jnp.pi * r / c.cutoff_nm) + 1.0), 0.0)
        basis = jnp.exp(-(((r[..., None] - centres) / width) ** 2)) * envelope[..., None]  # (n, k, R)
        neighbour = jax.nn.one_hot(species[idx], len(c.species))  # (n, k, S)
        features = jnp.einsum("nkr,nks->nrs", basis, neighbour).reshape(x.shape[0], -1)
        t = jnp.broadcast_to(temperature / 300.0 - 1.0, (x.shape[0], 1))
        h = jnp.concatenate([jnp.log1p(features), jax.nn.one_hot(species, len(c.species)), t], axis=-1)
        h = nn.silu(nn.Dense(c.hidden)(h))
        h = nn.silu(nn.Dense(c.hidden)(h))
        return jnp.sum(nn.Dense(1)(h)) / np.sqrt(x.shape[0])


class EnergyEnsemble:
    """K trained heads; `predict` gives the members' energies for a batch of frames."""

    def __init__(self, config: HeadConfig, params, species: np.ndarray):
        self.config, self.params, self.species = config, params, jnp.asarray(species)
        head = EnergyHead(config)

        def members(params, x, box, temperature):
            one = lambda p, xx, bb, tt: head.apply(p, xx, self.species, bb, tt)  # noqa: E731
            per_frame = jax.vmap(one, in_axes=(None, 0, 0 if box is not None else None, 0))
            return jax.vmap(per_frame, in_axes=(0, None, None, None))(params, x, box, temperature)

        self._members = jax.jit(members)

    def predict(self, positions: np.ndarray, boxes: np.ndarray | None, temperature: np.ndarray,
                chunk: int = 512) -> np.ndarray:
        """(members, n_frames) potential energies, kJ/mol, for positions (n_frames, n_atoms, 3) nm,
        orthorhombic boxes (n_frames, 3, 3) nm or None and set-point temperatures (n_frames,) K."""
        out = []
        for a in range(0, len(positions), chunk):
            x = jnp.asarray(positions[a:a + chunk], jnp.float32)
            b = None if boxes is None else jnp.asarray(np.einsum("fii->fi", boxes[a:a + chunk]), jnp.float32)
            t = jnp.asarray(temperature[a:a + chunk], jnp.float32)
            out.append(np.asarray(self._members(self.params, x, b, t)))
        z = np.concatenate(out, axis=1)
        return z * self.config.energy_std + self.config.energy_mean

    def residual_std(self, temperature) -> np.ndarray:
        """Per-frame energy the heads do not resolve at temperature (K), kJ/mol (0 if not measured)."""
        return np.asarray(temperature, float) * (self.config.residual_std_per_k or 0.0)

    def save(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        write_bytes_atomic(os.path.join(directory, "energy_head.msgpack"), flax.serialization.to_bytes(self.params))
        write_json_atomic(os.path.join(directory, "energy_head.json"),
                          asdict(self.config) | {"atom_species": self.species.tolist()})

    @classmethod
    def load(cls, directory: str) -> "EnergyEnsemble":
        try:
            with open(os.path.join(directory, "energy_head.json")) as f:
                saved = json.load(f)
            species = np.asarray(saved.pop("atom_species"), np.int32)
            config = HeadConfig.from_json(saved)
            template = _init(config, species, jax.random.PRNGKey(0))
            with open(os.path.join(directory, "energy_head.msgpack"), "rb") as f:
                params = flax.serialization.from_bytes(template, f.read())
        except FileNotFoundError:
            raise InputError(f"{directory} has no energy head (energy_head.json/.msgpack)") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"corrupt energy head in {directory}: {exc}") from None
        return cls(config, params, species)


def _init(config: HeadConfig, species: np.ndarray, key):
    n = len(species)
    x = jnp.arange(n, dtype=jnp.float32)[:, None] * jnp.array([[0.11, 0.07, 0.05]], jnp.float32)
    box = jnp.full(3, 3.0, jnp.float32) if config.periodic else None
    keys = jax.random.split(key, config.members)
    return jax.jit(jax.vmap(lambda k: EnergyHead(config).init(k, x, jnp.asarray(species), box, jnp.float32(300.0))))(keys)


def fit_energy_heads(positions: np.ndarray, boxes: np.ndarray | None, temperature: np.ndarray, energies: np.ndarray,
                     species: np.ndarray, symbols: tuple[str, ...], members: int = 4, steps: int = 2000,
                     batch: int = 64, lr: float = 3e-3, seed: int = 0, **config) -> EnergyEnsemble:
    """Train K energy heads on frames: positions (n_frames, n_atoms, 3) nm, boxes (n_frames, 3, 3)
    nm or None, set-point temperatures (n_frames,) K, energies (n_frames,) kJ/mol; each member on
    its own bootstrap resample."""
    ok = np.isfinite(energies)
    if ok.sum() < 10:
        raise InputError("the energy head needs at least 10 frames with a logged potential energy")
    positions, energies, temperature = positions[ok], energies[ok], np.asarray(temperature, np.float32)[ok]
    frame_boxes = None if boxes is None else boxes[ok]  # (n, 3, 3), for predict
    boxes = None if boxes is None else np.einsum("fii->fi", frame_boxes).astype(np.float32)
    cfg = HeadConfig(species=tuple(symbols), periodic=boxes is not None, members=members,
                     energy_mean=float(energies.mean()), energy_std=float(energies.std() + 1e-6), **config)
    species = jnp.asarray(species, jnp.int32)
    params = _init(cfg, np.asarray(species), jax.random.PRNGKey(seed))
    head = EnergyHead(cfg)
    tx = optax.adam(optax.cosine_decay_schedule(lr, steps, 0.05))
    target = ((energies - cfg.energy_mean) / cfg.energy_std).astype(np.float32)

    def loss(p, x, b, t, y):
        pred = jax.vmap(lambda xx, bb, tt: head.apply(p, xx, species, bb, tt),
                        in_axes=(0, 0 if b is not None else None, 0))(x, b, t)
        return jnp.mean((pred - y) ** 2)

    def step(p, opt, x, b, t, y):
        value, grads = jax.value_and_grad(loss)(p, x, b, t, y)
        updates, opt = tx.update(grads, opt, p)
        return optax.apply_updates(p, updates), opt, value

    vstep = jax.jit(jax.vmap(step, in_axes=(0, 0, 0, 0 if boxes is not None else None, 0, 0)))
    opt = jax.vmap(tx.init)(params)
    rng = np.random.default_rng(seed)
    pools = bootstrap_pools(len(positions), members, rng)
    for _ in range(steps):
        w = np.stack([pool[rng.integers(0, len(pool), batch)] for pool in pools])  # (K, batch)
        b = None if boxes is None else jnp.asarray(boxes[w])
        params, opt, _ = vstep(params, opt, jnp.asarray(positions[w], jnp.float32), b, jnp.asarray(temperature[w]),
                               jnp.asarray(target[w]))
    heads = EnergyEnsemble(cfg, params, np.asarray(species))
    return with_residual(heads, positions, frame_boxes, temperature, energies, pools)


def bootstrap_pools(n_frames: int, members: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Each member's bootstrap resample of frame indices (the first draws of a fit's rng)."""
    return [rng.integers(0, n_frames, n_frames) for _ in range(members)]


def with_residual(heads: EnergyEnsemble, positions, boxes, temperature, energies, pools) -> EnergyEnsemble:
    """heads with residual_std_per_k measured on each member's out-of-bag frames (frames outside
    its bootstrap pool): sqrt(mean((prediction - energy)^2 / T^2))."""
    pred = heads.predict(positions, boxes, temperature)
    ratios = []
    for m, pool in enumerate(pools):
        oob = np.ones(len(energies), bool)
        oob[pool] = False
        ratios.append(((pred[m, oob] - energies[oob]) / temperature[oob]) ** 2)
    c = float(np.sqrt(np.mean(np.concatenate(ratios))))
    return EnergyEnsemble(replace(heads.config, residual_std_per_k=c), heads.params, np.asarray(heads.species))
