"""Emulate a protocol with a trained model, from the last frame of a trajectory; writes the same
mdtraj HDF5 format as `sciwm simulate` (replicas one after another, per-frame array `replica`).

Example: sciwm emulate --model models/ala2 --start run.h5 --protocol "T=300K,t=1ns"
         --save-every 10ps --replicas 16 --out emu.h5
"""
from __future__ import annotations

import sys

from sciwm.cli._common import check_output_path, progress_bar
from sciwm.data import read_trajectory, write_trajectory
from sciwm.errors import InputError
from sciwm.model.corrector import Corrector
from sciwm.model.emulator import EmulatorEngine, system_from_trajectory
from sciwm.model.flow import MAX_DRAWS
from sciwm.model.io import read_config
from sciwm.protocol import parse_protocol
from sciwm.units import parse_time_ps


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, metavar="MODEL_DIR")
    p.add_argument("--start", required=True, metavar="FILE.h5", help="start from this trajectory's last frame")
    p.add_argument("--protocol", required=True, help='e.g. "T=300K,t=1ns; T=350K,t=500ps"')
    p.add_argument("--save-every", default=None, metavar="TIME",
                   help="frame interval = jump lag (default: the model's shortest trained lag)")
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--sample-steps", type=int, help="ODE steps per jump (default: the model's preset)")
    p.add_argument("--corrector-steps", type=int, default=0, metavar="N",
                   help="after each jump, N Langevin steps with the reference force field of the model's "
                        "training system (sciwm.model.corrector); default 0: none")
    p.add_argument("--corrector-timestep", metavar="TIME",
                   help="the corrector's time step (default: 1fs for molecules, the system's for periodic ones)")
    p.add_argument("--corrector-hydrogen-mass", type=float, metavar="DALTON",
                   help="repartition mass onto hydrogens for the corrector (e.g. 3 with a 2fs time step)")
    p.add_argument("--corrector-barostat", type=int, default=0, metavar="K",
                   help="NPT segments: a Monte Carlo volume move every K corrector steps at the segment's pressure "
                        "(default 0: the volume is the model's)")
    p.add_argument("--corrector-nonbonded-every", type=int, default=1, metavar="K",
                   help="multiple time steps: the non-bonded forces (the costly part) every K corrector steps, "
                        "as impulses; N must be a multiple of K (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, metavar="FILE.h5")
    p.add_argument("--quiet", action="store_true")


def run(args) -> int:
    protocol = parse_protocol(args.protocol)
    check_output_path(args.out)
    start = read_trajectory(args.start)
    if start.n_frames == 0:
        raise InputError(f"{args.start} has no frames")
    corrector = None
    options = {"--corrector-timestep": args.corrector_timestep, "--corrector-hydrogen-mass": args.corrector_hydrogen_mass,
               "--corrector-barostat": args.corrector_barostat,
               "--corrector-nonbonded-every": args.corrector_nonbonded_every != 1}
    given = [name for name, value in options.items() if value]
    if given and not args.corrector_steps:
        raise InputError(f"{given[0]} needs --corrector-steps")
    if args.corrector_steps:
        timestep = parse_time_ps(args.corrector_timestep) if args.corrector_timestep else None
        corrector = Corrector.for_model(read_config(args.model), args.corrector_steps, timestep_ps=timestep,
                                        hydrogen_mass=args.corrector_hydrogen_mass,
                                        barostat_interval=args.corrector_barostat,
                                        nonbonded_every=args.corrector_nonbonded_every)
    engine = EmulatorEngine(args.model, replicas=args.replicas, sample_steps=args.sample_steps, corrector=corrector)
    lag = parse_time_ps(args.save_every) if args.save_every else min(engine.config.lag_table_ps)
    system = system_from_trajectory(start, args.model)
    with progress_bar(protocol.duration_ps, "ps", "emulate", not args.quiet) as bar:
        traj = engine.run(system, protocol, save_every_ps=lag, seed=args.seed, progress=bar)
    write_trajectory(traj, args.out)
    r = traj.record
    if r.system["blown_up_replicas"]:
        print(f"warning: replicas {r.system['blown_up_replicas']} blew up; their frames after that were dropped",
              file=sys.stderr)
    if r.system.get("chirality_stopped_replicas"):
        print(f"warning: replicas {r.system['chirality_stopped_replicas']} stopped: no jump in {MAX_DRAWS} draws "
              "kept the stereocentres; their frames after that were not emulated", file=sys.stderr)
    flagged = {k: v for k, v in r.system.get("flagged_frames", {}).items() if v}
    if flagged:
        print(f"warning: {sum(traj.extra['flagged'] != 0)} of {traj.n_frames} frames flagged "
              f"({', '.join(f'{k}: {v}' for k, v in flagged.items())}); see the per-frame array 'flagged'",
              file=sys.stderr)
    if not args.quiet:
        ns_per_s = protocol.duration_ps * args.replicas * 1e-3 / max(sum(s.wall_seconds for s in r.segments), 1e-12)
        print(f"wrote {args.out}: {traj.n_frames} frames ({args.replicas} replicas), {r.wall_seconds:.2f} s wall, "
              f"{ns_per_s:.3g} emulated ns per wall-second", file=sys.stderr)
    return 0
