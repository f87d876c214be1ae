"""The training loop: AdamW with warm-up and cosine decay, gradient clipping, an EMA of the
weights, jit-compiled steps, validation on held-out trajectories, orbax checkpoints with the frozen
config beside them, and resume after interruption (batches depend only on (seed, step), so a
resumed run sees the same data as an uninterrupted one)."""
from __future__ import annotations

import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp

from sciwm.data import read_trajectory
from sciwm.data.files import read_json, write_json_atomic
from sciwm.errors import InputError
from sciwm.model.backbone import VelocityNet
from sciwm.model.io import CHECKPOINTS, CONFIG_FILE, init_params, load_model, read_config, species_indices
from sciwm.model.config import ModelConfig
from sciwm.model.flow import batch_loss, loss_and_grad
from sciwm.model.validity import ValidityLimits, limits_from_data
from sciwm.train.dataset import (WindowDataset, build_windows, conserved_chirality, covalent_constraints,
                                 displacement_table, split_trajectories)
from sciwm.train.presets import TrainConfig

HISTORY_FILE = "history.json"
# a CPU computes the gradient fastest in pieces of this many windows (flow.loss_and_grad): XLA
# keeps a piece's intermediates in cache (see benchmarks/README.md, twelfth session)
CPU_MICRO_BATCH = 4


def make_optimizer(cfg: TrainConfig):
    schedule = optax.warmup_cosine_decay_schedule(0.0, cfg.lr, max(cfg.warmup_steps, 1), max(cfg.steps, cfg.warmup_steps + 1),
                                                  end_value=cfg.lr * cfg.final_lr_fraction)
    return optax.chain(optax.clip_by_global_norm(cfg.clip), optax.adamw(schedule, weight_decay=cfg.weight_decay))


class Trainer:
    """Holds the network, the jitted step and the state pytree of one model directory. With
    ensemble K > 1 every leaf of the state has a leading member axis and the step is vmapped:
    K members train in one compiled call, each on its own batches."""

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig, species: np.ndarray):
        self.model_config, self.cfg, self.species = model_config, train_config, jnp.asarray(species)
        self.net = VelocityNet(model_config)
        self.tx = make_optimizer(train_config)
        decay = train_config.ema_decay
        net, tx, micro = self.net, self.tx, micro_batch(train_config)

        def step(state, batch):
            key, sub = jax.random.split(state["rng"])
            loss, grads = loss_and_grad(net, state["params"], sub, batch, micro)
            updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
            params = optax.apply_updates(state["params"], updates)
            ema = jax.tree_util.tree_map(lambda e, p: decay * e + (1 - decay) * p, state["ema"], params)
            return {"params": params, "opt_state": opt_state, "ema": ema, "rng": key, "step": state["step"] + 1}, loss

        def eval_loss(params, key, batch):
            return batch_loss(net, params, key, batch)

        self.members = train_config.ensemble
        if self.members > 1:
            step, eval_loss = jax.vmap(step), jax.vmap(eval_loss, in_axes=(0, None, 0))
        self.step = jax.jit(step, donate_argnums=0)
        self.eval_loss = jax.jit(eval_loss)

    def init_state(self, start: dict | None = None) -> dict:
        """Step-0 state: fresh weights, or those of start (parameters stacked along a leading
        member axis, as load_model returns them; member k starts from start's member k mod K)."""
        def one(k):
            key, init_key = jax.random.split(jax.random.PRNGKey(self.cfg.seed + k))
            if start is None:
                params = init_params(self.net, len(self.species), init_key)
            else:
                params = jax.tree_util.tree_map(lambda a: jnp.array(a[k % len(a)]), start)
            ema = jax.tree_util.tree_map(jnp.copy, params)  # distinct buffers: the step donates both
            return {"params": params, "opt_state": self.tx.init(params), "ema": ema, "rng": key,
                    "step": jnp.int32(0)}

        if self.members == 1:
            return one(0)
        return stack_members([one(k) for k in range(self.members)])

    def batch(self, data: WindowDataset, rng: np.random.Generator, pools: list | None = None) -> dict:
        """One batch, or with an ensemble one per member (from its bootstrap pool), stacked."""
        if self.members == 1:
            b = data.batch(rng, self.cfg.batch_size)
        else:
            b = stack_members([data.batch(rng, self.cfg.batch_size, pool) for pool in pools])
        b["species"] = self.species if self.members == 1 else jnp.tile(self.species[None], (self.members, 1))
        return b


def micro_batch(cfg: TrainConfig) -> int | None:
    """Windows per piece of the gradient (flow.loss_and_grad); None: the whole batch at once.
    cfg.micro_batch if set (0: whole batch); otherwise CPU_MICRO_BATCH on a CPU where it divides
    the batch, and the whole batch on accelerators."""
    if cfg.micro_batch is not None:
        if cfg.micro_batch and cfg.batch_size % cfg.micro_batch:
            raise InputError(f"micro_batch {cfg.micro_batch} does not divide batch_size {cfg.batch_size}")
        return cfg.micro_batch or None
    if jax.default_backend() != "cpu" or cfg.batch_size <= CPU_MICRO_BATCH or cfg.batch_size % CPU_MICRO_BATCH:
        return None
    return CPU_MICRO_BATCH


def stack_members(trees: list):
    """Stack identically shaped pytrees along a new leading member axis."""
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *trees)


def _model_config(train_data: WindowDataset, topology, cfg: TrainConfig) -> ModelConfig:
    periodic = train_data.boxes is not None
    npt = bool(np.any(~np.isnan(train_data.pressure)))
    lags, scales, log_volume = displacement_table(train_data, align=not periodic, rng=np.random.default_rng(cfg.seed),
                                                  box_strain=npt)
    pairs, lengths = ((), ()) if periodic else covalent_constraints(topology, train_data.positions)
    quads, signs = ((), ()) if periodic else conserved_chirality(topology, train_data.positions)
    volume = {}
    if npt:  # the network is conditioned on the start frame's volume per atom (flow.flow_conditions)
        log_v = np.log(np.prod(train_data.boxes.astype(np.float64), axis=-1) / train_data.positions.shape[1])
        volume = {"log_volume_mean": float(log_v.mean()), "log_volume_std": float(log_v.std()) + 1e-4}
    return ModelConfig(species=tuple(sorted(set(train_data.symbols))), periodic=periodic,
                       npt=npt, box_strain=npt, align=not periodic,
                       lag_table_ps=lags, scale_table_nm=scales, log_volume_scale=log_volume,
                       constraint_pairs=pairs, constraint_lengths_nm=lengths, chiral_quads=quads,
                       chiral_signs=signs, **volume, **cfg.model)


def _validity(trajs) -> ValidityLimits:
    boxes = None if trajs[0].box is None else np.concatenate([t.box for t in trajs])
    return limits_from_data(trajs[0].topology, np.concatenate([t.positions for t in trajs]), boxes)


def train(data_paths: list[str], out_dir: str, cfg: TrainConfig, log=sys.stderr, progress: bool = True) -> dict:
    """Train (or resume) a model in out_dir from reference trajectory files. Returns the history."""
    trajs = [read_trajectory(p) for p in data_paths]
    train_trajs, val_trajs = split_trajectories(trajs, cfg.val_fraction)
    train_data, val_data = build_windows(train_trajs, cfg.lags_ps), build_windows(val_trajs, cfg.lags_ps)
    description = {"data": [os.path.abspath(p) for p in data_paths], "train": cfg.to_json()}
    config_path = os.path.join(out_dir, CONFIG_FILE)
    if os.path.exists(config_path):
        saved = read_json(config_path)
        saved["train"] = json.loads(json.dumps(TrainConfig.from_json(saved["train"]).to_json()))  # new fields: defaults
        if {k: saved.get(k) for k in description} != json.loads(json.dumps(description)):
            raise InputError(f"{out_dir} holds a model trained with other data or settings: use a new --out")
        model_config = ModelConfig.from_json(saved["model"])
        if "validity" not in saved:  # model directories written before validity checks existed
            write_json_atomic(config_path, saved | {"validity": _validity(train_trajs).to_json()})
    else:
        if cfg.init_from:
            source = read_config(cfg.init_from)
            if list(source["symbols"]) != list(train_data.symbols):
                raise InputError(f"{cfg.init_from} was trained on another system than {data_paths[0]}")
            model_config = source["model"]
        else:
            model_config = _model_config(train_data, trajs[0].topology, cfg)
        os.makedirs(out_dir, exist_ok=True)
        write_json_atomic(config_path, {**description, "system": trajs[0].record.system,
                                        "model": model_config.to_json(), "symbols": list(train_data.symbols),
                                        "n_train_windows": len(train_data), "n_val_windows": len(val_data),
                                        "validity": _validity(train_trajs).to_json()})
    trainer = Trainer(model_config, cfg, species_indices(train_data.symbols, model_config.species))
    state = trainer.init_state()
    history_path = os.path.join(out_dir, HISTORY_FILE)
    history = read_json(history_path) if os.path.exists(history_path) else {"train": [], "val": [], "seconds": 0.0}
    pools = None
    if cfg.ensemble > 1:  # member k trains on bootstrap resample k of the training windows
        pools = [train_data.bootstrap(np.random.default_rng([cfg.seed, 2 * 10**6 + k])) for k in range(cfg.ensemble)]
    val_batches = [trainer.batch(val_data, np.random.default_rng([cfg.seed, 10**6 + i]), [None] * cfg.ensemble)
                   for i in range(cfg.eval_batches)]

    with ocp.CheckpointManager(os.path.abspath(os.path.join(out_dir, CHECKPOINTS)),
                               options=ocp.CheckpointManagerOptions(max_to_keep=2)) as manager:
        if manager.latest_step() is not None:
            state = manager.restore(manager.latest_step(), args=ocp.args.Composite(
                state=ocp.args.StandardRestore(state)))["state"]
            print(f"resuming {out_dir} at step {int(state['step'])}", file=log)
        elif cfg.init_from:
            state = trainer.init_state(start=load_model(cfg.init_from)[1])
        start = int(np.max(state["step"]))
        from tqdm import tqdm
        bar = tqdm(total=cfg.steps, initial=start, desc="train", disable=not progress or not sys.stderr.isatty())
        t0, losses = time.perf_counter(), []
        for step in range(start, cfg.steps):
            state, loss = trainer.step(state, trainer.batch(train_data, np.random.default_rng([cfg.seed, step]), pools))
            losses.append(loss)
            done = step + 1
            if done % cfg.eval_every == 0 or done == cfg.steps:
                train_loss = float(np.mean(jax.device_get(losses)))
                losses = []
                val = float(np.mean([trainer.eval_loss(state["ema"], jax.random.PRNGKey(i), b) for i, b in enumerate(val_batches)]))
                history["train"].append([done, train_loss])
                history["val"].append([done, val])
                bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val:.4f}")
                if bar.disable and progress:  # no terminal: one log line per evaluation
                    print(f"step {done}/{cfg.steps}  train {train_loss:.4f}  val {val:.4f}", file=log)
                if not np.isfinite(train_loss):
                    raise InputError(f"training diverged at step {done} (loss {train_loss}); lower the learning rate")
            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                history["seconds"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                manager.save(done, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                           ema=ocp.args.StandardSave(state["ema"])))
                manager.wait_until_finished()
                write_json_atomic(history_path, history)
            bar.update(1)
        bar.close()
    return history


def step_seconds(data_paths: list[str], cfg: TrainConfig, n_steps: int = 30) -> float:
    """Wall seconds of one compiled training step of cfg on this machine (compile excluded),
    timed on batches of the given data: sizes a training run to a time budget."""
    trajs = [read_trajectory(p) for p in data_paths]
    data = build_windows(trajs, cfg.lags_ps)
    model_config = _model_config(data, trajs[0].topology, cfg)
    trainer = Trainer(model_config, cfg, species_indices(data.symbols, model_config.species))
    state, rng = trainer.init_state(), np.random.default_rng(cfg.seed)
    pools = [np.arange(len(data))] * cfg.ensemble if cfg.ensemble > 1 else None
    state, loss = trainer.step(state, trainer.batch(data, rng, pools))  # compile
    jax.block_until_ready(loss)
    t0 = time.perf_counter()
    for _ in range(n_steps):
        state, loss = trainer.step(state, trainer.batch(data, rng, pools))
    jax.block_until_ready(loss)
    return (time.perf_counter() - t0) / n_steps
