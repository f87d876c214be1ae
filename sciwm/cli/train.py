"""Build a world model from reference trajectories: the equivariant emulator (an ensemble of K
members with --ensemble K), energy heads, a cost model and a task distribution, in MODEL_DIR.
Resumes if MODEL_DIR holds a checkpoint of the same run.

Example: sciwm train --data run1.h5 run2.h5 --out models/ala2 --preset ala2 --ensemble 4
"""
from __future__ import annotations

import os
import sys

from sciwm.errors import InputError

from sciwm.train.presets import PRESETS, get_preset
from sciwm.world.bundle import build


def add_arguments(p) -> None:
    p.add_argument("--data", nargs="+", required=True, metavar="FILE.h5", help="reference trajectories")
    p.add_argument("--out", required=True, metavar="MODEL_DIR")
    p.add_argument("--preset", default="debug", choices=sorted(PRESETS), help="training preset (default debug)")
    p.add_argument("--steps", type=int, help="override the preset's optimiser steps")
    p.add_argument("--seed", type=int, help="override the preset's seed")
    p.add_argument("--ensemble", type=int, help="members of the dynamics ensemble (default: the preset's)")
    p.add_argument("--cost-records", nargs="*", default=(), metavar="FILE",
                   help="more run records for the cost model (.h5 trajectories or .jsonl logs)")
    p.add_argument("--init-from", metavar="MODEL_DIR",
                   help="start from this model's network and weights (fine-tune it on the data given)")
    p.add_argument("--quiet", action="store_true")


def run(args) -> int:
    overrides = {k: v for k, v in (("steps", args.steps), ("seed", args.seed), ("ensemble", args.ensemble))
                 if v is not None}
    if args.init_from:  # checked by the trainer before it writes anything
        overrides["init_from"] = os.path.abspath(args.init_from)
    cfg = get_preset(args.preset, **overrides)
    if cfg.ensemble < 1:
        raise InputError(f"--ensemble must be at least 1, got {cfg.ensemble}")
    world = build(args.data, args.out, cfg, cost_records=tuple(args.cost_records), progress=not args.quiet)
    if not args.quiet:
        parts = [k for k in ("heads", "cost", "tasks") if world.manifest.get(k)]
        print(f"built {args.out}: {cfg.ensemble} member(s), {', '.join(parts)}; "
              f"{world.manifest['train_seconds']:.1f} s training", file=sys.stderr)
    return 0
