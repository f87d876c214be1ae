"""Observables computed identically on reference and emulated trajectories.

Conventions: angles in radians on [-pi, pi); Jensen-Shannon distance = sqrt of the divergence,
natural log, on 50 x 50 bins over [-pi, pi)^2 unless stated; alanine-dipeptide states
  alpha-R: phi < 0 and -120 deg < psi < 30 deg
  beta/C7eq core: phi < 0 and (psi > 50 deg or psi < -150 deg)
(psi from 30 to 50 deg and from -150 to -120 deg is a buffer). Rates count core-to-core switches per ns
of the core-to-core sequence (the last core visited), per independent trajectory (replica).
Self-diffusion from the mean squared displacement of unwrapped positions (Einstein relation).
Lengths nm, times ps, densities g/cm^3.
"""
from __future__ import annotations

import mdtraj
import numpy as np
from scipy.spatial.distance import jensenshannon

from sciwm.engines.trajectory import Trajectory
from sciwm.errors import InputError

ALPHA_R, BETA, NONE = 0, 1, -1


def phi_psi(traj: Trajectory) -> np.ndarray:
    """(n_frames, 2) backbone dihedrals of a dipeptide, radians."""
    return backbone_dihedrals(traj.to_mdtraj())


def backbone_dihedrals(md: mdtraj.Trajectory) -> np.ndarray:
    """(n_frames, 2) phi, psi of a dipeptide given as an mdtraj trajectory, radians."""
    return np.stack([mdtraj.compute_phi(md)[1][:, 0], mdtraj.compute_psi(md)[1][:, 0]], 1)


def histogram_2d(angles: np.ndarray, bins: int = 50) -> np.ndarray:
    edges = np.linspace(-np.pi, np.pi, bins + 1)
    h, _, _ = np.histogram2d(angles[:, 0], angles[:, 1], bins=[edges, edges])
    return h.ravel()


def js_distance(a: np.ndarray, b: np.ndarray, bins: int = 50) -> float:
    """Jensen-Shannon distance between the 2-D angle histograms of two (n, 2) samples."""
    return float(jensenshannon(histogram_2d(a, bins), histogram_2d(b, bins)))


def js_distance_1d(a: np.ndarray, b: np.ndarray, bins: int = 50) -> float:
    edges = np.linspace(-np.pi, np.pi, bins + 1)
    return float(jensenshannon(np.histogram(a, edges)[0], np.histogram(b, edges)[0]))


def alpha_r(angles: np.ndarray) -> np.ndarray:
    phi, psi = angles[:, 0], np.degrees(angles[:, 1])
    return (phi < 0) & (psi > -120) & (psi < 30)


def core_states(angles: np.ndarray) -> np.ndarray:
    """Per frame: ALPHA_R, BETA, or NONE (buffer or phi > 0)."""
    phi, psi = angles[:, 0], np.degrees(angles[:, 1])
    state = np.full(len(angles), NONE)
    state[alpha_r(angles)] = ALPHA_R
    state[(phi < 0) & ((psi > 50) | (psi < -150))] = BETA
    return state


def core_transitions(angles: np.ndarray) -> int:
    """Number of switches of the last-visited core along one trajectory."""
    s = core_states(angles)
    s = s[s != NONE]
    return int(np.count_nonzero(np.diff(s))) if len(s) else 0


def transition_rate_per_ns(sequences: list[np.ndarray], frame_ps: float) -> float:
    """Core-to-core switches per ns over independent angle sequences sampled every frame_ps."""
    switches = sum(core_transitions(a) for a in sequences)
    total_ns = sum(len(a) for a in sequences) * frame_ps * 1e-3
    return switches / total_ns


def split_replicas(traj: Trajectory) -> list[np.ndarray]:
    """Frame-index arrays of each replica (one for a reference run)."""
    if "replica" not in traj.extra:
        return [np.arange(traj.n_frames)]
    rep = traj.extra["replica"]
    return [np.flatnonzero(rep == r) for r in np.unique(rep)]


def rdf(traj: Trajectory, r_max_nm: float = 1.0, bin_nm: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Radial distribution function over all atom pairs: (r centres nm, g(r))."""
    md = traj.to_mdtraj()
    pairs = md.topology.select_pairs("all", "all")
    return mdtraj.compute_rdf(md, pairs, r_range=(0.0, r_max_nm), bin_width=bin_nm)


def rdf_mae(a: Trajectory, b: Trajectory, r_max_nm: float = 1.0) -> float:
    _, ga = rdf(a, r_max_nm)
    _, gb = rdf(b, r_max_nm)
    return float(np.mean(np.abs(ga - gb)))


# ---------------------------------------------------------------- diffusion
def unwrap(positions: np.ndarray, box: np.ndarray | None = None) -> np.ndarray:
    """(n_frames, n_atoms, 3) nm positions made continuous across periodic boundaries.

    Each frame-to-frame displacement is replaced by its minimum image in the later frame's box
    (box (3, 3) or (n_frames, 3, 3) nm, vectors as rows; fractional rounding, exact for
    orthorhombic boxes). Valid while no atom moves more than half a box length between frames.
    box=None returns the positions unchanged (as float64).
    """
    x = np.asarray(positions, float)
    if box is None:
        return x.copy()
    boxes = np.broadcast_to(np.asarray(box, float), (len(x), 3, 3))
    step = np.diff(x, axis=0)
    frac = np.einsum("fai,fij->faj", step, np.linalg.inv(boxes[1:]))
    step = np.einsum("faj,fjk->fak", frac - np.round(frac), boxes[1:])
    return np.concatenate([x[:1], x[:1] + np.cumsum(step, axis=0)])


def msd(positions: np.ndarray, box: np.ndarray | None = None, remove_drift: bool = False,
        chunk: int = 64) -> np.ndarray:
    """(n_frames,) mean squared displacement in nm^2 at lags 0..n_frames-1 frames.

    Averaged over atoms and over all time origins (n_frames - lag of them), after `unwrap`.
    remove_drift subtracts the per-frame mean atom position (equal masses assumed: the
    centre-of-mass drift); for N independent walkers this lowers the MSD by a factor (1 - 1/N).
    Computed with FFT autocorrelation, O(n_frames log n_frames) per atom, atoms in chunks.
    """
    x = unwrap(positions, box)
    if remove_drift:
        x = x - x.mean(1, keepdims=True)
    n = len(x)
    sq = np.sum(x**2, axis=2).mean(1)  # (n_frames,) atom-mean |x_t|^2
    prefix = np.concatenate([[0.0], np.cumsum(sq)])
    lags = np.arange(n)
    origins = n - lags
    s1 = (prefix[n - lags] + prefix[n] - prefix[lags]) / origins
    power = 0.0
    for i in range(0, x.shape[1], chunk):
        f = np.fft.rfft(x[:, i:i + chunk], n=2 * n, axis=0)
        power = power + np.sum(np.abs(f) ** 2, axis=(1, 2))
    s2 = np.fft.irfft(power, n=2 * n)[:n] / x.shape[1] / origins
    return s1 - 2.0 * s2


def diffusion_coefficient(positions: np.ndarray, time_ps: np.ndarray, box: np.ndarray | None = None,
                          fit_range: tuple[float, float] = (0.1, 0.5), remove_drift: bool = False) -> float:
    """Self-diffusion coefficient D in nm^2/ps from MSD(t) ~ 6 D t (3-D Einstein relation).

    Least-squares line (with intercept) through the MSD at lag times between fit_range[0] and
    fit_range[1] of the run's duration: the default window skips the short-time ballistic/caging
    regime and the long lags averaged over few origins. Frames must be evenly spaced in time_ps.
    """
    t = np.asarray(time_ps, float)
    dt = np.diff(t)
    if len(t) < 4 or not np.allclose(dt, dt[0], rtol=1e-6):
        raise InputError("diffusion needs at least 4 evenly spaced frames")
    lag_t = np.arange(len(t)) * dt[0]
    window = (lag_t >= fit_range[0] * lag_t[-1]) & (lag_t <= fit_range[1] * lag_t[-1])
    if window.sum() < 2:
        raise InputError(f"fit_range {fit_range} holds fewer than 2 lags")
    slope = np.polyfit(lag_t[window], msd(positions, box, remove_drift)[window], 1)[0]
    return float(slope / 6.0)
