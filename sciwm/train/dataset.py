"""Windows (x_t, intervention, lag, x_{t+lag}) drawn from reference trajectories.

A window never crosses a segment boundary, so its intervention is the set-point of that segment.
Splits are by trajectory, never by frame; a single trajectory is cut into two contiguous blocks.
Positions nm, lags ps, boxes as orthorhombic lengths (3,) nm.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np

from sciwm.engines.trajectory import Trajectory
from sciwm.errors import InputError
from sciwm.model.flow import align_target
from sciwm.model.graph import bonded_neighbours


def species_of(traj: Trajectory) -> tuple[str, ...]:
    return tuple(a.element.symbol for a in traj.topology.atoms)


def box_lengths(box: np.ndarray) -> np.ndarray:
    """(..., 3, 3) box vectors -> (..., 3) lengths; refuses non-orthorhombic boxes."""
    off = box - np.einsum("...ii->...i", box)[..., None] * np.eye(3)
    if np.abs(off).max() > 1e-6:
        raise InputError("the emulator supports orthorhombic boxes only")
    return np.einsum("...ii->...i", box).astype(np.float32)


def split_trajectories(trajs: list[Trajectory], val_fraction: float) -> tuple[list[Trajectory], list[Trajectory]]:
    """Hold out whole trajectories (the last ones) when there are at least 1/val_fraction of them;
    otherwise the last contiguous block of each, so that every condition is trained on."""
    if len(trajs) * val_fraction >= 1:
        n_val = round(len(trajs) * val_fraction)
        return trajs[:-n_val], trajs[-n_val:]
    cuts = [int(round(t.n_frames * (1 - val_fraction))) for t in trajs]
    return [t.select(slice(0, c)) for t, c in zip(trajs, cuts)], [t.select(slice(c, t.n_frames)) for t, c in zip(trajs, cuts)]


@dataclass
class WindowDataset:
    symbols: tuple[str, ...]
    positions: np.ndarray  # (frames, n, 3) float32
    boxes: np.ndarray | None  # (frames, 3) float32
    temperature: np.ndarray  # (frames,) K, set-point
    pressure: np.ndarray  # (frames,) bar, NaN for NVT
    pairs: np.ndarray  # (windows, 2) frame indices (t, t + lag)
    lag_ps: np.ndarray  # (windows,)
    unit: np.ndarray  # (windows,) bootstrap unit: the trajectory, or a tenth of it when there are few

    def __len__(self) -> int:
        return len(self.pairs)

    def bootstrap(self, rng: np.random.Generator) -> np.ndarray:
        """Window indices of one bootstrap resample: units drawn with replacement (correlated
        frames stay together), each bringing all its windows."""
        units = np.unique(self.unit)
        chosen = rng.choice(units, len(units), replace=True)
        by_unit = {u: np.flatnonzero(self.unit == u) for u in units}
        return np.concatenate([by_unit[u] for u in chosen])

    def batch(self, rng: np.random.Generator, size: int, pool: np.ndarray | None = None) -> dict:
        """A random batch of windows (from pool's window indices if given) as float32 arrays
        (species added by the caller)."""
        w = rng.integers(0, len(self.pairs), size) if pool is None else pool[rng.integers(0, len(pool), size)]
        i, j = self.pairs[w, 0], self.pairs[w, 1]
        out = {"x_t": self.positions[i], "x_1": self.positions[j], "temperature": self.temperature[j],
               "pressure": self.pressure[j], "lag_ps": self.lag_ps[w]}
        if self.boxes is not None:
            out["box_t"], out["box_1"] = self.boxes[i], self.boxes[j]
        return out


BOOTSTRAP_BLOCKS = 10  # per trajectory, when fewer than 5 trajectories


def usable_frames(t: Trajectory) -> np.ndarray:
    """(n_frames,) bool: frames that may train a model - not flagged by the emulator's validity
    checks (see sciwm.model.validity), so flagged frames never silently become training data."""
    flagged = t.extra.get("flagged")
    return np.ones(t.n_frames, bool) if flagged is None else np.asarray(flagged) == 0


def build_windows(trajs: list[Trajectory], lags_ps: tuple[float, ...]) -> WindowDataset:
    """All windows at the given lags inside single segments (and single replicas) of the given
    trajectories, between frames that are not flagged."""
    if not trajs:
        raise InputError("no trajectories to train on")
    symbols = species_of(trajs[0])
    for t in trajs:
        if species_of(t) != symbols:
            raise InputError("training trajectories must share one system (same atoms in the same order)")
        if (t.box is None) != (trajs[0].box is None):
            raise InputError("training trajectories mix periodic and non-periodic systems")
    pairs, lags, units, offset = [], [], [], 0
    blocks = BOOTSTRAP_BLOCKS if len(trajs) < 5 else 1
    for k, t in enumerate(trajs):
        if t.n_frames < 2:
            offset += t.n_frames
            continue
        usable = usable_frames(t)
        part = t.extra.get("replica", t.segment)
        dt = float(np.median(np.diff(t.time_ps)))
        for lag in lags_ps:
            n = int(round(lag / dt))
            if n < 1 or abs(n * dt - lag) > 1e-3 * lag:
                raise InputError(f"lag {lag:g} ps is not a multiple of the frame interval {dt:g} ps")
            i = np.arange(t.n_frames - n)
            i = i[(t.segment[i] == t.segment[i + n]) & (part[i] == part[i + n]) & usable[i] & usable[i + n]]
            pairs.append(np.stack([i, i + n], 1) + offset)
            lags.append(np.full(len(i), n * dt, dtype=np.float32))
            units.append(k * blocks + (i * blocks) // t.n_frames)
        offset += t.n_frames
    pairs = np.concatenate(pairs) if pairs else np.zeros((0, 2), int)
    if len(pairs) == 0:
        raise InputError(f"no windows at lags {lags_ps} ps: trajectories too short")
    boxes = None if trajs[0].box is None else np.concatenate([box_lengths(t.box) for t in trajs])
    return WindowDataset(
        symbols=symbols,
        positions=np.concatenate([t.positions for t in trajs]).astype(np.float32),
        boxes=boxes,
        temperature=np.concatenate([t.setpoint_temperature for t in trajs]).astype(np.float32),
        pressure=np.concatenate([t.setpoint_pressure for t in trajs]).astype(np.float32),
        pairs=pairs, lag_ps=np.concatenate(lags), unit=np.concatenate(units))


def displacement_table(data: WindowDataset, align: bool, rng: np.random.Generator, n_samples: int = 2000,
                       box_strain: bool = False):
    """rms displacement per coordinate (nm) at each lag, and rms change of log volume; with
    box_strain the targets are first scaled back into the start frame's box (flow.align_target)."""
    lags, scales, dlogv = [], [], []
    for lag in np.unique(data.lag_ps):
        w = np.flatnonzero(data.lag_ps == lag)
        w = rng.choice(w, min(n_samples, len(w)), replace=False)
        x_t, x_1 = data.positions[data.pairs[w, 0]], data.positions[data.pairs[w, 1]]
        ratio = data.boxes[data.pairs[w, 0]] / data.boxes[data.pairs[w, 1]] if box_strain else None
        d = np.asarray(jax.vmap(lambda a, b, r: align_target(a, b, align, r))(x_t, x_1, ratio)) - x_t
        lags.append(float(lag))
        scales.append(float(np.sqrt(np.mean(np.square(d)))) + 1e-4)
        if data.boxes is not None:
            dlogv.append(3 * np.log(data.boxes[data.pairs[w, 1], 0] / data.boxes[data.pairs[w, 0], 0]))
    log_volume = float(np.sqrt(np.mean(np.square(np.concatenate(dlogv))))) + 1e-4 if dlogv else 0.01
    return tuple(lags), tuple(scales), log_volume


STIFF_RELATIVE_STD = 0.02  # 1-4 pairs this rigid in the data are constrained (amide planarity)


def _sample_frames(positions: np.ndarray, max_frames: int) -> np.ndarray:
    return positions[np.linspace(0, len(positions) - 1, min(max_frames, len(positions))).astype(int)]


def covalent_constraints(topology, positions: np.ndarray, max_frames: int = 2000):
    """Atom pairs whose distance the emulator holds fixed, and their mean distances (nm) over up
    to max_frames evenly spaced frames: every 1-2 (bond) and 1-3 (angle) pair, and the 1-4 pairs
    whose distance varies by less than 2% (relative std) in the data, which keeps peptide bonds
    planar but leaves rotatable torsions (phi, psi, methyl groups) free. Empty without bonds."""
    neighbours = bonded_neighbours(topology)
    if not neighbours:
        return (), ()
    close = {tuple(sorted((i, j))) for i in neighbours for j in neighbours[i]}
    close |= {tuple(sorted((i, k))) for j in neighbours for i in neighbours[j] for k in neighbours[j] if i != k}
    one_four = {tuple(sorted((i, l))) for j in neighbours for i in neighbours[j] for k in neighbours[j]
                for l in neighbours[k] if len({i, j, k, l}) == 4} - close
    frames = _sample_frames(positions, max_frames)

    def distances(pairs):
        idx = np.array(sorted(pairs)).reshape(-1, 2)
        return idx, np.linalg.norm(frames[:, idx[:, 1]] - frames[:, idx[:, 0]], axis=-1)

    idx14, d14 = distances(one_four) if one_four else (np.zeros((0, 2), int), np.zeros((len(frames), 0)))
    stiff = d14.std(0) < STIFF_RELATIVE_STD * d14.mean(0)
    idx, d = distances(close | {tuple(p) for p in idx14[stiff]})
    return tuple(tuple(int(v) for v in p) for p in idx), tuple(float(v) for v in d.mean(0))


def conserved_chirality(topology, positions: np.ndarray, max_frames: int = 2000):
    """(centre, a, b, c) for every atom with 4 or more bonded neighbours (sp3; a, b, c the first
    three by index) whose signed volume keeps one sign, away from zero, in all sampled frames;
    and those signs."""
    quads = [(c, *ns[:3]) for c, ns in sorted(bonded_neighbours(topology).items()) if len(ns) >= 4]
    if not quads:
        return (), ()
    frames = _sample_frames(positions, max_frames)
    q = np.array(quads)
    vol = signed_volumes(frames, q)
    keep = np.all(vol > 1e-5, axis=0) | np.all(vol < -1e-5, axis=0)
    return tuple(tuple(int(i) for i in row) for row in q[keep]), tuple(float(np.sign(v)) for v in vol[0, keep])


def signed_volumes(x: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """det(a - c, b - c, d - c) for quads (m, 4) of (centre, a, b, d); x (..., n, 3) -> (..., m)."""
    c = x[..., quads[:, 0], :]
    return np.linalg.det(np.stack([x[..., quads[:, k], :] - c for k in (1, 2, 3)], axis=-2))
