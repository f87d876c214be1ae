"""Reference runs from where the emulator went but the reference rarely goes (ala2: phi > 0).

    python3 benchmarks/revisit.py --frames 'data/ala2-implicit-300K-emulated-*.h5' [--n 8] [--ns 1.5]

Picks --n frames with phi > 0 from the emulated files (one per file, in name order, a seeded
random frame of each) and runs reference MD (OpenMM, ala2-implicit, 300 K) for --ns from each,
one process per core (sciwm.bench.cache), written to data/ala2-implicit-300K-revisit-K.h5 (skipped if present). These
are the world model's active-learning queries in miniature: MD's transition kernel from states the
model visits too often (alpha-L, ~0.01% of MD frames at 300 K, 5-10% of a weak model's), so that
a model trained with them learns how MD leaves them. benchmarks/emulator.py --train-extra adds them
to the training data.
"""
from __future__ import annotations

import argparse
import glob
import os

import numpy as np

from sciwm import analysis
from sciwm.bench.cache import ReferenceRun, ensure_runs
from sciwm.data import read_trajectory

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")


def starts(pattern: str, n: int) -> list[np.ndarray]:
    rng, out = np.random.default_rng(0), []
    for path in sorted(glob.glob(pattern)):
        traj = read_trajectory(path)
        frames = np.flatnonzero(analysis.phi_psi(traj)[:, 0] > 0)
        if len(frames):
            out.append(traj.positions[rng.choice(frames)].astype(float))
        if len(out) == n:
            break
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", required=True, help="glob of emulated ala2-implicit trajectories")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--ns", type=float, default=1.5)
    args = parser.parse_args(argv)
    runs = [ReferenceRun(os.path.join(DATA, f"ala2-implicit-300K-revisit-{k}.h5"), "ala2-implicit",
                         f"T=300K,t={args.ns:g}ns", 100 + k, start=x)
            for k, x in enumerate(starts(args.frames, args.n))]
    if len(runs) < args.n:
        raise SystemExit(f"only {len(runs)} of the files have a frame with phi > 0")
    print("\n".join(ensure_runs(runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
