"""Observables computed identically on reference and emulated trajectories.

Conventions: angles in radians on [-pi, pi); Jensen-Shannon distance = sqrt of the divergence,
natural log, on 50 x 50 bins over [-pi, pi)^2 unless stated; alanine-dipeptide states
  alpha-R: phi < 0 and -120 deg < psi < 30 deg
  beta/C7eq core: phi < 0 and (psi > 50 deg or psi < -150 deg)
(psi from 30 to 50 deg and from -150 to -120 deg is a buffer). Rates count core-to-core switches per ns
of the core-to-core sequence (the last core visited), per independent trajectory (replica).
Lengths nm, times ps, densities g/cm^3.
"""
from __future__ import annotations

import mdtraj
import numpy as np
from scipy.spatial.distance import jensenshannon

from sciwm.engines.trajectory import Trajectory

ALPHA_R, BETA, NONE = 0, 1, -1


def phi_psi(traj: Trajectory) -> np.ndarray:
    """(n_frames, 2) backbone dihedrals of a dipeptide, radians."""
    md = traj.to_mdtraj()
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
