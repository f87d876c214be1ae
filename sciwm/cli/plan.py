"""Run (or resume) a campaign: find interventions that reach an objective, paying for reference MD
only when the world model cannot be trusted. DIR/ledger.sqlite records every query; rerunning the
same command resumes after a crash. --strategy all runs the world-model agent and both baselines
(random search and BO on reference MD alone) into DIR/<strategy>/ and compares them in DIR/report.md.
"""
from __future__ import annotations

import dataclasses
import os

from sciwm.errors import InputError

STRATEGY_CHOICES = ("world_model", "bo_reference", "random", "all")


def add_arguments(p) -> None:
    p.add_argument("config", metavar="CONFIG.yaml", help="campaign config (see experiments/)")
    p.add_argument("--out", required=True, metavar="DIR", help="campaign folder (resumed if it exists)")
    p.add_argument("--strategy", choices=STRATEGY_CHOICES, default=None,
                   help="world_model (default), bo_reference, random, or all three with a comparison report")
    p.add_argument("--model", metavar="MODEL_DIR", help="trained world model for strategy world_model")
    p.add_argument("--no-world-model", action="store_true",
                   help="plan without a world model: strategy bo_reference (or both baselines with --strategy all)")
    p.add_argument("--seed", type=int, default=None, help="override the config's seed")


def _strategies(args) -> list[str]:
    if args.no_world_model:
        if args.strategy == "world_model":
            raise InputError("--no-world-model contradicts --strategy world_model")
        if args.model:
            raise InputError("--no-world-model contradicts --model")
        return {"all": ["bo_reference", "random"], None: ["bo_reference"]}.get(args.strategy, [args.strategy])
    if args.strategy == "all":
        return ["world_model", "bo_reference", "random"]
    return [args.strategy or "world_model"]


def run(args) -> int:
    from sciwm.agent.campaign import load_world_model_source, run_campaign
    from sciwm.agent.config import load_config
    from sciwm.agent.reference import ReferenceSource
    from sciwm.agent.report import write_report

    config = load_config(args.config)
    if args.seed is not None:
        if args.seed < 0:
            raise InputError(f"--seed must not be negative, got {args.seed}")
        config = dataclasses.replace(config, seed=args.seed)
    strategies = _strategies(args)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise InputError(f"--out {args.out} exists and is not a folder")
    world_model = load_world_model_source(args.model, config) if "world_model" in strategies else None
    reference = ReferenceSource.from_config(config)
    os.makedirs(args.out, exist_ok=True)
    single = len(strategies) == 1
    folders = {s: args.out if single else os.path.join(args.out, s) for s in strategies}
    for strategy, folder in folders.items():
        result = run_campaign(config, folder, reference, world_model, strategy=strategy)
        best = "no feasible point" if result.best_params is None else \
            f"best {config.objective.observable} = {result.best_values[config.objective.observable]:.4g} " \
            f"at {', '.join(f'{k}={v:.4g}' for k, v in result.best_params.items())}"
        print(f"{strategy}: {result.rounds} rounds, {result.reference_runs} reference runs "
              f"({result.spent_seconds:.1f} s measured, {result.predicted_seconds:.1f} s predicted), "
              f"{result.world_model_runs} world-model runs; {best}")
    print(f"report: {write_report(folders, config, args.out)}")
    return 0
