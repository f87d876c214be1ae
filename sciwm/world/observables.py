"""Observables the world model predicts, computed the same way on reference and emulated frames.

Each observable is a per-frame value; an estimate is its mean over frames. For an emulated
trajectory the frames are grouped by ensemble member (array `member`), giving one estimate per
member: their spread is the model's uncertainty. Potential energy comes from the logged energies
of a reference run, and from the R-hat energy heads (head k scores member k's frames) for an
emulated one. Units: kJ/mol, g/cm^3, nm^2/ps, populations as fractions.

Self-diffusion is a property of a trajectory, not of a frame: for an emulated run it is estimated
per replica from its jumps, D = <|x(t + lag) - x(t)|^2> / (6 lag) (minimum image, all atoms and
consecutive frame pairs), then averaged per member. At a lag of several ps in a liquid the MSD
still carries the offset of its first ps (ballistic and caged motion), so this reads above an MSD
fit over longer lags; the campaign's recalibration on reference runs removes such a bias. (For a
molecule the emulator aligns each jump onto the last frame: this is not its diffusion.)
"""
from __future__ import annotations

import numpy as np

from sciwm import analysis
from sciwm.engines.trajectory import Trajectory
from sciwm.errors import InputError

OBSERVABLES = ("alpha_r_population", "potential_energy_kj_mol", "density_g_cm3", "diffusion_nm2_ps")
PER_TRAJECTORY = ("diffusion_nm2_ps",)


def per_frame(name: str, traj: Trajectory, heads=None) -> np.ndarray:
    """(n_frames,) values of observable `name`."""
    if name == "alpha_r_population":
        return (analysis.core_states(analysis.phi_psi(traj)) == analysis.ALPHA_R).astype(float) \
            if traj.n_frames else np.zeros(0)
    if name == "density_g_cm3":
        return traj.density_g_cm3()
    if name == "potential_energy_kj_mol":
        if np.all(np.isfinite(traj.potential_energy)):
            return np.asarray(traj.potential_energy, float)
        if heads is None:
            raise InputError("emulated frames carry no energies: potential energy needs the world model's R-hat heads")
        energies = heads.predict(traj.positions, traj.box, traj.setpoint_temperature)  # (K_heads, n_frames)
        member = traj.extra.get("member", np.zeros(traj.n_frames, int))
        return energies[member % len(energies), np.arange(traj.n_frames)]
    if name in PER_TRAJECTORY:
        raise InputError(f"{name} is a property of a trajectory, not of a frame: see jump_diffusion")
    raise InputError(f"unknown observable {name!r}: choose one of {', '.join(OBSERVABLES)}")


def jump_diffusion(traj: Trajectory) -> tuple[np.ndarray, np.ndarray]:
    """(D per replica in nm^2/ps, member of each replica) from consecutive frames of each replica
    (frames one save interval apart); a replica with fewer than 2 valid frames gives NaN."""
    replica = np.asarray(traj.extra.get("replica", np.zeros(traj.n_frames, int)))
    member = np.asarray(traj.extra.get("member", np.zeros(traj.n_frames, int)))
    valid = np.asarray(traj.extra.get("flagged", np.zeros(traj.n_frames))) == 0
    ids = np.unique(replica)
    d, members = np.full(len(ids), np.nan), np.zeros(len(ids), int)
    for i, r in enumerate(ids):
        idx = np.flatnonzero(replica == r)
        members[i] = member[idx[0]]
        box = None if traj.box is None else traj.box[idx]
        x = analysis.unwrap(traj.positions[idx], box)
        lag = np.diff(traj.time_ps[idx])
        ok = valid[idx][1:] & valid[idx][:-1]
        if ok.any():
            sq = np.sum(np.diff(x, axis=0) ** 2, axis=2).mean(1)  # (pairs,) atom-mean squared jump
            d[i] = float(np.mean(sq[ok] / (6.0 * lag[ok])))
    return d, members


def diffusion_estimates(traj: Trajectory) -> tuple[np.ndarray, float]:
    """((members,) D per member in nm^2/ps, the mean of its replicas' jump estimates; standard error
    over all replicas, NaN with fewer than 2). A member with no valid jump gets NaN."""
    per_replica, member = jump_diffusion(traj)
    members = np.array([np.nanmean(per_replica[member == m]) if np.any(np.isfinite(per_replica[member == m]))
                        else np.nan for m in range(int(member.max()) + 1)])
    n = int(np.sum(np.isfinite(per_replica)))
    return members, float(np.nanstd(per_replica, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


def member_estimates(values: np.ndarray, traj: Trajectory, by: str = "member") -> np.ndarray:
    """(members,) mean of per-frame values over each member's valid (unflagged) frames; a
    reference trajectory is one member. by="replica": one mean per replica instead (NaN for a
    replica with no valid frame)."""
    member = np.asarray(traj.extra.get(by, np.zeros(traj.n_frames, int)))
    valid = _valid(traj)
    out = [values[(member == m) & valid].mean() if np.any((member == m) & valid) else np.nan
           for m in range(int(member.max()) + 1 if len(member) else 1)]
    return np.asarray(out)


def sampling_error(values: np.ndarray, traj: Trajectory, population: bool = False, n_blocks: int = 5) -> float:
    """Standard error of the mean of per-frame values from contiguous blocks within each replica
    (correlated frames): std of block means / sqrt(n_blocks_total); for a population (values 0
    or 1) at least the binomial error of the blocks with a Laplace prior, (k+1)/(n+2)."""
    replica = np.asarray(traj.extra.get("replica", np.zeros(traj.n_frames, int)))
    means = []
    for r in np.unique(replica):
        v = values[replica == r]
        means += [b.mean() for b in np.array_split(v, min(n_blocks, len(v))) if len(b)]
    if len(means) < 2:
        return float("nan")
    sem = float(np.std(means, ddof=1) / np.sqrt(len(means)))
    if population:  # all blocks alike is no proof of zero error: Laplace floor
        p = (np.sum(means) + 1) / (len(means) + 2)
        sem = max(sem, float(np.sqrt(p * (1 - p) / len(means))))
    return sem


def run_population_floor(values: np.ndarray, traj: Trajectory) -> float:
    """Smallest std of a population over one run of this many frames: sqrt(p (1 - p) / F), p the
    pooled valid frames' (k + 1) / (n + 2) (Laplace), F the mean valid frames per replica (frames
    taken as independent, so this is a floor, not an estimate)."""
    valid = _valid(traj)
    v = values[valid]
    p = (v.sum() + 1) / (len(v) + 2)
    return float(np.sqrt(p * (1 - p) / max(_frames_per_replica(traj, valid), 1)))


def head_noise_of_run(traj: Trajectory, heads) -> float:
    """Std of one run's mean energy from what the heads cannot resolve per frame (kJ/mol): the
    residual at the frames' temperature over sqrt(valid frames per replica), frames taken as
    independent (at the emulator's >= 1-ps spacing the fast vibrations are)."""
    valid = _valid(traj)
    if heads is None or not valid.any():
        return 0.0
    return float(np.sqrt(np.mean(heads.residual_std(traj.setpoint_temperature[valid]) ** 2)
                         / _frames_per_replica(traj, valid)))


def _valid(traj: Trajectory) -> np.ndarray:
    """(n_frames,) True for frames not flagged by the validity checks (every reference frame)."""
    return np.asarray(traj.extra.get("flagged", np.zeros(traj.n_frames))) == 0


def _frames_per_replica(traj: Trajectory, valid: np.ndarray) -> float:
    """Mean number of valid frames per replica that has any (0 when none has)."""
    replica = np.asarray(traj.extra.get("replica", np.zeros(traj.n_frames, int)))[valid]
    return len(replica) / len(np.unique(replica)) if len(replica) else 0.0
