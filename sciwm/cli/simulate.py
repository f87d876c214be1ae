"""Run reference MD under a temperature/pressure protocol and write an mdtraj HDF5 trajectory.

Example: sciwm simulate --system lj --protocol "T=120K,P=1bar,t=100ps; T=150K,t=50ps"
         --save-every 1ps --seed 0 --out run.h5
"""
from __future__ import annotations

import argparse
import sys

from sciwm.cli._common import check_output_path, progress_bar
from sciwm.data import read_trajectory, write_trajectory
from sciwm.engines import ENGINES, get_engine
from sciwm.errors import InputError
from sciwm.protocol import parse_protocol
from sciwm.systems import BUILTIN, get_system
from sciwm.units import parse_time_ps


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--system", required=True, help=f"{' | '.join(BUILTIN)} | PATH (PDB, or any ASE-readable file)")
    p.add_argument("--forcefield", nargs="+", default=[], metavar="XML", help="OpenMM force-field files for a PDB")
    p.add_argument("--calculator", help="ASE calculator for a structure file: emt, or module:Class")
    p.add_argument("--n-atoms", type=int, help="atoms for lj (default 256) or cu (4k^3, default 108)")
    p.add_argument("--box-nm", type=float, help="box side for lj or cu, nm")
    p.add_argument("--engine", choices=ENGINES, help="default: the system's own (openmm, or ase for cu)")
    p.add_argument("--platform", help="OpenMM platform (Reference, CPU, CUDA, OpenCL); default: fastest here")
    p.add_argument("--protocol", required=True, help='e.g. "T=300K,P=1bar,t=100ps; T=350K,t=50ps"')
    p.add_argument("--save-every", required=True, metavar="TIME", help="frame interval, e.g. 1ps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timestep", metavar="TIME", help="MD time step (default per system, e.g. 2fs)")
    p.add_argument("--friction", type=float, metavar="PER_PS", help="Langevin friction, 1/ps (0: no thermostat)")
    p.add_argument("--minimize", action=argparse.BooleanOptionalAction, default=None,
                   help="energy-minimise first (default on for built-in molecules and lj)")
    p.add_argument("--equilibrate", default="0ps", metavar="TIME",
                   help="unsaved MD at the first segment's set-points before the run")
    p.add_argument("--start", metavar="FILE.h5", help="start from the last frame of this trajectory")
    p.add_argument("--out", required=True, metavar="FILE.h5")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def run(args) -> int:
    protocol = parse_protocol(args.protocol)
    save_every = parse_time_ps(args.save_every)
    timestep = parse_time_ps(args.timestep) if args.timestep else None
    check_output_path(args.out)
    system = get_system(args.system, n_atoms=args.n_atoms, box_nm=args.box_nm, forcefield=tuple(args.forcefield),
                        calculator=args.calculator, engine=args.engine, seed=args.seed)
    state = read_trajectory(args.start).final_state() if args.start else None
    if state is not None and state.positions.shape != system.positions.shape:
        raise InputError(f"{args.start} has {state.positions.shape[0]} atoms, system {system.name} has {system.n_atoms}")
    options = {"timestep_ps": timestep, "friction_per_ps": args.friction, "minimize": args.minimize,
               "equilibrate_ps": parse_time_ps(args.equilibrate)}
    if args.platform:
        options["platform"] = args.platform
    engine = get_engine(args.engine or system.engines[0], **options)
    with progress_bar(protocol.duration_ps, "ps", f"{system.name} [{engine.name}]", not args.quiet) as bar:
        traj = engine.run(system, protocol, save_every_ps=save_every, seed=args.seed, state=state,
                          progress=bar)
    write_trajectory(traj, args.out)
    if not args.quiet:
        r = traj.record
        ns_day = protocol.duration_ps * 1e-3 / max(sum(s.wall_seconds for s in r.segments), 1e-12) * 86400
        print(f"wrote {args.out}: {traj.n_frames} frames, {traj.n_atoms} atoms, {r.engine} {r.platform}, "
              f"{r.wall_seconds:.2f} s wall ({ns_day:.3g} ns/day)", file=sys.stderr)
    return 0
