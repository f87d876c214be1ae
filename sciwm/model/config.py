"""Frozen model configuration, saved beside every checkpoint (a model directory is self-describing)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelConfig:
    """Equivariant velocity network and flow-matching settings.

    species: element symbols the model knows (node types), in index order.
    hidden_scalars, hidden_vectors: channels of 0e and 1o(+1e) features per node.
    lmax: highest spherical-harmonic order on edges.
    n_layers: message-passing layers. n_neighbors: edges per atom (nearest first).
    cutoff_nm: radial cut-off of the edge envelope.
    n_radial: radial basis functions.
    base_sigma: std of the Gaussian that widens x_t into the flow's base distribution, in units
        of the lag's displacement scale.
    lag_table_ps, scale_table_nm: rms displacement per coordinate, |x_{t+lag} - x_t|, measured on
        the training data at these lags; interpolated log-log for any lag, it scales the flow.
    log_volume_scale: rms of log V_{t+lag} - log V_t over the data (NPT only).
    log_volume_mean, log_volume_std: NPT only - mean and std of log(volume per atom / nm^3) over the
        training frames. When set, the network is also conditioned on the start frame's volume
        per atom (standardised) and on the flow's current log-volume change (over
        log_volume_scale), so the volume move can depend on the density directly; without them
        (models trained before this existed) it sees the volume only through neighbour distances,
        and its log-volume velocity cannot depend on the flow's own volume state.
    periodic: positions live in a periodic box (minimum image on edges).
    npt: the model also moves the box volume.
    box_strain: NPT only - targets are scaled back into the start frame's box and sampled
        positions are scaled with the sampled box (False: models trained before this existed,
        whose flow had to produce the barostat's strain itself).
    align: molecules only - targets are rigidly aligned to x_t (no overall rotation/translation).
    constraint_pairs, constraint_lengths_nm: molecules only - 1-2 and 1-3 (bond and angle) atom
        pairs and their mean distances in the training data; every sampled frame is projected
        onto them (SHAKE-like), which keeps the covalent geometry over thousands of jumps.
    chiral_quads, chiral_signs: molecules only - (centre, a, b, c) atoms whose signed volume
        det(a - centre, b - centre, c - centre) kept one sign in every training frame (sp3 centres:
        stereocentres and labelled methyl hydrogens); a sampled jump that flips one is rejected
        and drawn again, as MD can never flip them.
    """

    species: tuple[str, ...]
    hidden_scalars: int = 32
    hidden_vectors: int = 8
    lmax: int = 2
    n_layers: int = 3
    n_neighbors: int = 24
    cutoff_nm: float = 1.2
    n_radial: int = 8
    base_sigma: float = 0.3
    lag_table_ps: tuple[float, ...] = (1.0,)
    scale_table_nm: tuple[float, ...] = (0.1,)
    log_volume_scale: float = 0.01
    log_volume_mean: float | None = None
    log_volume_std: float = 1.0
    periodic: bool = False
    npt: bool = False
    box_strain: bool = False
    align: bool = True
    constraint_pairs: tuple[tuple[int, int], ...] = ()
    constraint_lengths_nm: tuple[float, ...] = ()
    chiral_quads: tuple[tuple[int, int, int, int], ...] = ()
    chiral_signs: tuple[float, ...] = ()

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "ModelConfig":
        data = dict(data)
        for key in ("species", "lag_table_ps", "scale_table_nm", "constraint_lengths_nm", "chiral_signs"):
            data[key] = tuple(data.get(key, ()))
        for key in ("constraint_pairs", "chiral_quads"):
            data[key] = tuple(tuple(p) for p in data.get(key, ()))
        return cls(**data)

    def replace(self, **changes) -> "ModelConfig":
        return dataclasses.replace(self, **changes)
