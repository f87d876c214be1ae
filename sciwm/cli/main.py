"""Entry point: `sciwm SUBCOMMAND ...`. User errors print one line and exit with status 2."""
from __future__ import annotations

import argparse
import importlib
import sys

from sciwm import __version__
from sciwm.errors import SciwmError

SUBCOMMANDS = {
    "simulate": "run reference MD (OpenMM or ASE) under a T/P protocol",
    "info": "summarise a trajectory file",
    "train": "train the equivariant emulator on reference trajectories",
    "emulate": "run a protocol on a trained emulator",
    "predict-cost": "predict the wall-clock cost of a reference run",
    "bench": "measure the world model against reference MD",
    "plan": "plan a campaign: find interventions that reach an objective",
    "demo": "the embedded default, end to end: data, world model, campaign, report",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sciwm", description="A scientific world model for molecular dynamics.")
    parser.add_argument("--version", action="version", version=f"sciwm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in SUBCOMMANDS.items():
        module = importlib.import_module(f"sciwm.cli.{name.replace('-', '_')}")
        p = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from sciwm.model.emulator import configure_cpu  # the parser imported it already

    configure_cpu()  # replicas shard over the CPU cores
    try:
        return args.run(args) or 0
    except SciwmError as exc:
        print(f"sciwm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permissions changed mid-run, ...
        print(f"sciwm {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"sciwm {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
