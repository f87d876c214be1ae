"""Predict the wall-clock seconds of a run (median and 90% interval) with the cost model Ĉ kept in
MODEL_DIR/cost.json; runs nothing.

Example: sciwm predict-cost --model models/wm --system lj --n-atoms 500 --protocol "T=100K,t=50ps" --json
"""
from __future__ import annotations

import json
import os

from sciwm.errors import InputError
from sciwm.protocol import parse_protocol
from sciwm.systems import BUILTIN
from sciwm.units import parse_time_ps
from sciwm.world.cost import CostModel, describe_request

COST_FILE = "cost.json"


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, metavar="MODEL_DIR", help=f"world-model directory holding {COST_FILE}")
    p.add_argument("--system", required=True, help=f"{' | '.join(BUILTIN)}")
    p.add_argument("--protocol", required=True, help='e.g. "T=300K,P=1bar,t=100ps; T=350K,t=50ps"')
    p.add_argument("--n-atoms", type=int, help="atoms for lj or cu")
    p.add_argument("--engine", choices=("openmm", "ase", "emulator"), help="default: the system's own")
    p.add_argument("--platform", help="OpenMM platform (default: the one sciwm would pick here)")
    p.add_argument("--save-every", metavar="TIME", help="frame interval; the emulator's jump lag (required for it)")
    p.add_argument("--replicas", type=int, default=1, help="emulator replicas")
    p.add_argument("--equilibrate", default="0ps", metavar="TIME", help="unsaved MD before the run")
    p.add_argument("--json", action="store_true", help="machine-readable output (keys seconds, low, high, ...)")


def _sample_steps(model_dir: str) -> int | None:
    """The emulator's ODE steps per jump from MODEL_DIR/config.json, when the bundle has one."""
    try:
        with open(os.path.join(model_dir, "config.json")) as f:
            return int(json.load(f)["train"]["sample_steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run(args) -> int:
    path = os.path.join(args.model, COST_FILE)
    if not os.path.isfile(path):
        raise InputError(f"{args.model} holds no cost model: {path} does not exist")
    model = CostModel.load(path)
    save_every = parse_time_ps(args.save_every) if args.save_every else None
    d = describe_request(args.system, parse_protocol(args.protocol), engine=args.engine, platform=args.platform,
                         n_atoms=args.n_atoms, save_every_ps=save_every, equilibrate_ps=parse_time_ps(args.equilibrate),
                         replicas=args.replicas,
                         sample_steps=_sample_steps(args.model) if args.engine == "emulator" else None)
    seconds, low, high = model.predict(d)
    if args.json:
        print(json.dumps({"seconds": seconds, "low": low, "high": high, "interval": model.interval,
                          "engine": d.engine, "platform": d.platform, "system": d.system, "n_atoms": d.n_atoms,
                          "md_steps": d.md_steps, "equilibration_steps": d.equilibration_steps}))
    else:
        print(f"{d.system} ({d.n_atoms} atoms), {d.engine} {d.platform}, {d.md_steps + d.equilibration_steps} steps: "
              f"{seconds:.3g} s ({100 * model.interval:.0f}% interval {low:.3g}-{high:.3g} s)")
    return 0
