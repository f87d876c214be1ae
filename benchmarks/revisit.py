"""Reference runs from where the emulator went but the reference rarely goes (ala2: phi > 0).

    python3 benchmarks/revisit.py --frames 'data/ala2-implicit-300K-emulated-*.h5' [--n 8] [--ns 1.5]

Picks --n frames with phi > 0 from the emulated files (one per file, in name order, a seeded
random frame of each) and runs reference MD (OpenMM, ala2-implicit, 300 K) for --ns from each,
one process per core, written to data/ala2-implicit-300K-revisit-K.h5 (skipped if present). These
are the world model's active-learning queries in miniature: MD's transition kernel from states the
model visits too often (alpha-L, ~0.01% of MD frames at 300 K, 5-10% of a weak model's), so that
a model trained with them learns how MD leaves them. benchmarks/emulator.py --train-extra adds them
to the training data.
"""
from __future__ import annotations

import argparse
import glob
import multiprocessing
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")


def starts(pattern: str, n: int) -> list[np.ndarray]:
    from sciwm import analysis
    from sciwm.data import read_trajectory

    rng, out = np.random.default_rng(0), []
    for path in sorted(glob.glob(pattern)):
        angles = analysis.phi_psi(read_trajectory(path))
        frames = np.flatnonzero(angles[:, 0] > 0)
        if len(frames):
            out.append(read_trajectory(path).positions[rng.choice(frames)].astype(float))
        if len(out) == n:
            break
    return out


def run(args) -> str:
    path, positions, ns, seed = args
    os.environ["OPENMM_CPU_THREADS"] = "1"
    from sciwm.data import write_trajectory
    from sciwm.engines import get_engine
    from sciwm.engines.trajectory import State
    from sciwm.protocol import parse_protocol
    from sciwm.systems import get_system

    traj = get_engine("openmm").run(get_system("ala2-implicit"), parse_protocol(f"T=300K,t={ns:g}ns"),
                                    save_every_ps=1.0, seed=seed, state=State(positions))
    write_trajectory(traj, path)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", required=True, help="glob of emulated ala2-implicit trajectories")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--ns", type=float, default=1.5)
    args = parser.parse_args(argv)
    jobs = [(os.path.join(DATA, f"ala2-implicit-300K-revisit-{k}.h5"), x, args.ns, 100 + k)
            for k, x in enumerate(starts(args.frames, args.n))]
    if len(jobs) < args.n:
        raise SystemExit(f"only {len(jobs)} of the files have a frame with phi > 0")
    todo = [j for j in jobs if not os.path.exists(j[0])]
    with multiprocessing.get_context("spawn").Pool(os.cpu_count() or 1) as pool:
        for path in pool.imap(run, todo):
            print("wrote", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
