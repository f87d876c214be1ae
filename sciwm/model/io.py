"""Load a trained model directory: config.json (frozen configs, data provenance) plus the EMA
weights of the latest orbax checkpoint."""
from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from sciwm.errors import InputError
from sciwm.model.backbone import VelocityNet, conditions
from sciwm.model.config import ModelConfig

CONFIG_FILE = "config.json"
CHECKPOINTS = "checkpoints"


def init_params(net: VelocityNet, n_atoms: int, key):
    """Parameters of a fresh network (shapes do not depend on n_atoms beyond tracing)."""
    c = net.config
    x = jnp.arange(n_atoms, dtype=jnp.float32)[:, None] * jnp.array([[0.1, 0.05, 0.02]], dtype=jnp.float32)
    box = jnp.full(3, n_atoms ** (1 / 3), dtype=jnp.float32) if c.periodic else None
    cond = conditions(jnp.float32(300.0), jnp.float32(jnp.nan), jnp.float32(1.0), jnp.float32(0.5))
    if c.log_volume_mean is not None:  # the volume conditions (flow.flow_conditions)
        cond = jnp.concatenate([cond, jnp.zeros(2, cond.dtype)])
    return jax.jit(net.init)(key, x, x, jnp.zeros(n_atoms, jnp.int32), box, cond, jnp.float32(0.1))


def species_indices(symbols, model_species) -> np.ndarray:
    unknown = sorted(set(symbols) - set(model_species))
    if unknown:
        raise InputError(f"the model does not know element(s) {', '.join(unknown)}")
    return np.array([model_species.index(s) for s in symbols], dtype=np.int32)


def read_config(model_dir: str) -> dict:
    path = os.path.join(model_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise InputError(f"{model_dir} is not a sciwm model directory (no {CONFIG_FILE})")
    try:
        with open(path) as f:
            saved = json.load(f)
        saved["model"] = ModelConfig.from_json(saved["model"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"corrupt model config {path}: {exc}") from None
    return saved


def ensemble_size(saved: dict) -> int:
    return int(saved.get("train", {}).get("ensemble", 1))


def load_model(model_dir: str) -> tuple[VelocityNet, dict, dict]:
    """(network, EMA parameters stacked along a leading member axis - (1, ...) for a single
    model, (K, ...) for an ensemble - and the saved config dict with 'model' as a ModelConfig)."""
    saved = read_config(model_dir)
    net = VelocityNet(saved["model"])
    members = ensemble_size(saved)
    abstract = init_params(net, len(saved["symbols"]), jax.random.PRNGKey(0))
    if members > 1:
        abstract = jax.tree_util.tree_map(lambda a: jnp.stack([a] * members), abstract)
    try:
        with ocp.CheckpointManager(os.path.abspath(os.path.join(model_dir, CHECKPOINTS))) as manager:
            step = manager.latest_step()
            if step is None:
                raise InputError(f"{model_dir} has no checkpoint yet")
            params = manager.restore(step, args=ocp.args.Composite(ema=ocp.args.StandardRestore(abstract)))["ema"]
    except InputError:
        raise
    except Exception as exc:  # orbax raises many types for damaged files
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"corrupt checkpoint in {model_dir}: {message}") from None
    saved["step"] = step
    if members == 1:
        params = jax.tree_util.tree_map(lambda a: a[None], params)
    return net, params, saved
