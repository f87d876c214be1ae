"""The embedded default, end to end: reference data (ala2 in implicit solvent at three
temperatures), a world model, a short campaign by the world-model agent and two baselines, and a
report (DIR/campaigns/report.md). Re-running resumes; see sciwm.agent.demo.

Example: sciwm demo --out demo
"""
from __future__ import annotations

import os
import sys

from sciwm.cli._common import check_output_path
from sciwm.errors import InputError


def add_arguments(p) -> None:
    p.add_argument("--out", default="sciwm-demo", metavar="DIR", help="demo folder (default sciwm-demo; resumed)")


def run(args) -> int:
    from sciwm.agent.demo import run_demo

    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise InputError(f"--out {args.out} exists and is not a folder")
    check_output_path(os.path.join(args.out, "report.md") if os.path.isdir(args.out) else args.out)
    os.makedirs(args.out, exist_ok=True)
    report = run_demo(args.out)
    print(f"report: {report}", file=sys.stderr)
    return 0
