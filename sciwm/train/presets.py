"""Typed, frozen training presets. Each run saves its preset (with overrides) in MODEL_DIR."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sciwm.errors import InputError


@dataclass(frozen=True)
class TrainConfig:
    """steps: optimiser steps; batch_size: windows per step; lags_ps: lags drawn from the data;
    lr: peak AdamW learning rate after warmup_steps, cosine decay to lr * final_lr_fraction;
    clip: global gradient-norm clip; ema_decay: weight EMA used for evaluation and sampling;
    model: ModelConfig overrides; sample_steps: midpoint ODE steps when emulating;
    ensemble: members trained side by side (stacked parameters, one vmapped step), each on its own
    bootstrap resample of the training data and its own seed; 1 is a single model;
    head_steps: optimiser steps of the R-hat energy heads fitted after the dynamics;
    micro_batch: windows per piece of the gradient, summed in a loop (same loss and gradient);
    None: the trainer's choice for the device (trainer.micro_batch), 0: the whole batch at once;
    init_from: a model directory to start from (fine-tuning on more data): its network, lag and
    scale tables and EMA weights (member k from its member k mod K); model is then ignored."""

    steps: int = 2000
    batch_size: int = 32
    lags_ps: tuple[float, ...] = (1.0, 10.0)
    lr: float = 2e-3
    warmup_steps: int = 100
    final_lr_fraction: float = 0.05
    weight_decay: float = 1e-4
    clip: float = 1.0
    ema_decay: float = 0.995
    eval_every: int = 100
    eval_batches: int = 4
    checkpoint_every: int = 200
    val_fraction: float = 0.1
    seed: int = 0
    sample_steps: int = 4
    ensemble: int = 1
    head_steps: int = 1500
    micro_batch: int | None = None
    init_from: str | None = None
    model: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "TrainConfig":
        data = dict(data)
        data["lags_ps"] = tuple(data["lags_ps"])
        return cls(**data)


_ALA2_LAGS = (1.0, 10.0, 100.0, 1000.0)
_ALA2_NET = {"hidden_scalars": 32, "hidden_vectors": 8, "lmax": 2, "n_layers": 3, "n_neighbors": 21, "cutoff_nm": 1.5}
_ALA2_GPU = dict(steps=30000, batch_size=256, lags_ps=_ALA2_LAGS, lr=2e-3, warmup_steps=500, ema_decay=0.999,
                 eval_every=1000, checkpoint_every=2000)
_LJ_GRAPH = {"lmax": 2, "n_neighbors": 24, "cutoff_nm": 0.7}
_LJ_GPU = dict(lags_ps=(1.0, 5.0), lr=2e-3, warmup_steps=300, ema_decay=0.999, eval_every=500, eval_batches=2,
               checkpoint_every=2000, head_steps=600)

PRESETS = {
    # seconds on a CPU: a tiny network, a few steps; for tests and smoke checks
    "debug": TrainConfig(steps=20, batch_size=4, lags_ps=(1.0, 2.0), warmup_steps=5, eval_every=10,
                         eval_batches=1, checkpoint_every=10, sample_steps=2, head_steps=50,
                         model={"hidden_scalars": 8, "hidden_vectors": 2, "lmax": 1, "n_layers": 1, "n_neighbors": 8}),
    # alanine dipeptide on a CPU: full graph over 22 atoms, lags 1 ps to 1 ns; small batches, many
    # steps and a slow EMA (20 min on 2 cores: meets the fidelity bars, benchmarks/README.md, 16th session)
    "ala2": TrainConfig(**_ALA2_GPU | dict(steps=26000, batch_size=16), model=_ALA2_NET),
    # alanine dipeptide sized for a GPU: twice the channels, 8x the batch (2.3 s a step on a 2-core
    # CPU, 13 ms on an H100: size the steps to the machine, e.g. benchmarks/emulator.py
    # --train-seconds); meant for more data than one 20-ns run
    "ala2-large": TrainConfig(**_ALA2_GPU, model=_ALA2_NET | {"hidden_scalars": 64, "hidden_vectors": 16}),
    # the `ala2` network with ala2-large's training (4.2 ms a step on an H100, 0.68 s here): it
    # emulates as fast as `ala2`; 12,000 steps see ~7x the windows of the `ala2` preset
    "ala2-gpu": TrainConfig(**_ALA2_GPU, model=_ALA2_NET),
    # argon LJ: 24 nearest neighbours within 0.7 nm, lags 1-10 ps
    "lj": TrainConfig(steps=1000, batch_size=4, lags_ps=(1.0, 5.0), lr=2e-3, eval_batches=2, head_steps=600,
                      model=_LJ_GRAPH | {"hidden_scalars": 32, "hidden_vectors": 8, "n_layers": 2}),
    # argon LJ sized for a GPU, two sizes (size the steps to the machine, as for ala2-large)
    "lj-large": TrainConfig(steps=30000, batch_size=16, **_LJ_GPU,
                            model=_LJ_GRAPH | {"hidden_scalars": 64, "hidden_vectors": 16, "n_layers": 2}),
    "lj-xl": TrainConfig(steps=30000, batch_size=32, **_LJ_GPU,
                         model=_LJ_GRAPH | {"hidden_scalars": 96, "hidden_vectors": 24, "n_layers": 3}),
}


def get_preset(name: str, **overrides) -> TrainConfig:
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)
