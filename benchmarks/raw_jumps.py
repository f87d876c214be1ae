"""One learned jump from reference frames, before any corrector: the model's conditional
distribution against the reference's at the same lag (ala2 models).

    python3 benchmarks/raw_jumps.py --model DIR [DIR ...] [--data RUN.h5] [--lag-ps 1000 ...]
                                    [--frames 4000] [--sample-steps 4] [--out PATH]

From --frames frames of the reference run (default: ala2-implicit run a, which trained the
models), each model jumps once per lag (its own sampler, --sample-steps midpoint steps; no
corrector, no chirality redraw). Printed and written per model and lag, next to the run's own
frame pairs at that lag: alpha-R after the jump, from alpha-R starts and from the others
(sciwm.analysis.alpha_r); phi > 0 after the jump; the psi histogram (12 bins of 30 deg, phi < 0,
fraction of all frames). A model that reproduces the conditional at 1 ns has no memory of the
start's basin (the reference: alpha-R 0.37 from alpha-R, 0.35 from elsewhere). This is where
the emulator's misses start; the end-to-end numbers are benchmarks/emulator.py's.
"""
from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import mdtraj
import numpy as np

from sciwm import analysis
from sciwm.data import read_trajectory
from sciwm.data.files import read_json, write_json_atomic
from sciwm.model.emulator import configure_cpu
from sciwm.model.flow import sample_one
from sciwm.model.io import load_model, species_indices

HERE = os.path.dirname(os.path.abspath(__file__))
PSI_EDGES = np.arange(-180, 181, 30)


def angles(positions: np.ndarray, topology) -> np.ndarray:
    """(n, 2) phi, psi in radians of positions (n, atoms, 3) nm."""
    return analysis.backbone_dihedrals(mdtraj.Trajectory(np.array(positions), topology))


def summary(start: np.ndarray, end: np.ndarray) -> dict:
    """Populations after a jump, by the start's basin; angles (n, 2) radians."""
    from_ar = analysis.alpha_r(start)
    after = analysis.alpha_r(end)
    psi = np.histogram(np.degrees(end[end[:, 0] < 0, 1]), PSI_EDGES)[0] / len(end)
    return {"alpha_r_from_alpha_r": float(after[from_ar].mean()), "alpha_r_from_other": float(after[~from_ar].mean()),
            "alpha_r": float(after.mean()), "phi_positive": float(np.mean(end[:, 0] > 0)),
            "psi_histogram_phi_negative": np.round(psi, 4).tolist()}


def sampler(model_dir: str, n_steps: int):
    """jump(positions (n, atoms, 3) nm, lag_ps) -> one jump of the model's first member from each
    frame, (n, atoms, 3) nm: the model is loaded and compiled once for every lag."""
    net, params, saved = load_model(model_dir)
    params = jax.tree_util.tree_map(lambda a: a[0], params)
    species = jnp.asarray(species_indices(saved["symbols"], saved["model"].species))
    one = jax.jit(jax.vmap(lambda k, x, lag: sample_one(net, params, k, species, x, None, jnp.float32(300.0),
                                                        jnp.float32(jnp.nan), lag, n_steps)[0], in_axes=(0, 0, None)))

    def jump(positions: np.ndarray, lag_ps: float, seed: int = 1, chunk: int = 500) -> np.ndarray:
        keys = jax.random.split(jax.random.PRNGKey(seed), len(positions))
        return np.concatenate([np.asarray(one(keys[i:i + chunk], jnp.asarray(positions[i:i + chunk], jnp.float32),
                                              jnp.float32(lag_ps))) for i in range(0, len(positions), chunk)])
    return jump


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", required=True, help="model directories (ala2)")
    parser.add_argument("--data", default=os.path.join(HERE, "data", "ala2-implicit-300K-a.h5"))
    parser.add_argument("--lag-ps", type=float, nargs="+", default=[1000.0])
    parser.add_argument("--frames", type=int, default=4000)
    parser.add_argument("--sample-steps", type=int, default=4)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "raw-jumps.json"))
    args = parser.parse_args()
    configure_cpu()
    run = read_trajectory(args.data)
    frame_ps = float(run.time_ps[1] - run.time_ps[0])
    all_angles = analysis.phi_psi(run)
    samplers = {os.path.basename(os.path.normpath(d)): sampler(d, args.sample_steps) for d in args.model}
    results = read_json(args.out) if os.path.exists(args.out) else {}
    print(f"{'model':<44} {'lag ps':>7} {'aR from aR':>10} {'from other':>10} {'aR':>6} {'phi>0':>7}")
    for lag in args.lag_ps:
        shift = int(round(lag / frame_ps))
        starts = np.random.default_rng(0).choice(run.n_frames - shift, args.frames, replace=False)
        ref = summary(all_angles[starts], all_angles[starts + shift])
        rows = [("reference (the run's own pairs)", ref)]
        for name, jump in samplers.items():
            end = angles(jump(run.positions[starts], lag), run.topology)
            rows.append((name, summary(all_angles[starts], end)))
        for name, r in rows:
            print(f"{name:<44} {lag:>7g} {r['alpha_r_from_alpha_r']:>10.3f} {r['alpha_r_from_other']:>10.3f} "
                  f"{r['alpha_r']:>6.3f} {r['phi_positive']:>7.4f}")
            results[f"{name}|lag{lag:g}|steps{args.sample_steps}"] = r | {"frames": args.frames, "data": os.path.basename(args.data)}
        print("psi bins from", PSI_EDGES[:-1].tolist())
        for name, r in rows:
            print(f"  {name[:40]:<40} {r['psi_histogram_phi_negative']}")
    write_json_atomic(args.out, results)


if __name__ == "__main__":
    main()
