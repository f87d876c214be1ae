"""Train the equivariant emulator on reference trajectories; resumes if MODEL_DIR holds a
checkpoint of the same run.

Example: sciwm train --data run1.h5 run2.h5 --out models/ala2 --preset ala2
"""
from __future__ import annotations

import sys

from sciwm.train.presets import PRESETS, get_preset
from sciwm.train.trainer import train


def add_arguments(p) -> None:
    p.add_argument("--data", nargs="+", required=True, metavar="FILE.h5", help="reference trajectories")
    p.add_argument("--out", required=True, metavar="MODEL_DIR")
    p.add_argument("--preset", default="debug", choices=sorted(PRESETS), help="training preset (default debug)")
    p.add_argument("--steps", type=int, help="override the preset's optimiser steps")
    p.add_argument("--seed", type=int, help="override the preset's seed")
    p.add_argument("--quiet", action="store_true")


def run(args) -> int:
    overrides = {k: v for k, v in (("steps", args.steps), ("seed", args.seed)) if v is not None}
    history = train(args.data, args.out, get_preset(args.preset, **overrides), progress=not args.quiet)
    if not args.quiet and history["val"]:
        step, val = history["val"][-1]
        print(f"trained {args.out}: step {step}, validation loss {val:.4f}, {history['seconds']:.1f} s", file=sys.stderr)
    return 0
