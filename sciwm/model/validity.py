"""Validity checks on emulated frames, against limits measured on the training data.

Every emulated frame gets a bit mask (0 = valid):
  CLASH      two atoms closer than CLASH_FRACTION of the closest non-bonded approach in the data
             (pairs more than two bonds apart in molecules; all pairs, minimum image, when periodic)
  BROKEN     a covalent bond longer or shorter than its mean length in the data by > BOND_TOLERANCE
  BOX        the box volume outside [VOLUME_FACTOR^-1 x min, VOLUME_FACTOR x max] of the data
  UNCERTAIN  ensemble spread above the model's threshold (see EmulatorEngine)
Non-finite or exploding frames never reach the file (the replica stops there; see emulator.py).
Flagged frames are written so that a user sees them, and are never used as training data
(sciwm.train.dataset.usable_frames). Lengths nm, volumes nm^3.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from sciwm.model.graph import bonded_neighbours

CLASH, BROKEN, BOX, UNCERTAIN = 1, 2, 4, 8
CLASH_FRACTION = 0.7
BOND_TOLERANCE = 0.25
VOLUME_FACTOR = 2.0
NAMES = {CLASH: "clash", BROKEN: "broken bond", BOX: "box collapse", UNCERTAIN: "uncertain"}


@dataclass(frozen=True)
class ValidityLimits:
    """closest_nm: smallest checked pair distance in the data; bonds: (i, j) atom pairs with their
    mean lengths bond_nm; volume_nm3: (min, max) box volume in the data, or None (no box)."""

    closest_nm: float
    bonds: tuple[tuple[int, int], ...] = ()
    bond_nm: tuple[float, ...] = ()
    volume_nm3: tuple[float, float] | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "ValidityLimits":
        volume = data.get("volume_nm3")
        return cls(float(data["closest_nm"]), tuple(tuple(b) for b in data.get("bonds", ())),
                   tuple(data.get("bond_nm", ())), None if volume is None else tuple(volume))


def _checked_pairs(topology, n_atoms: int) -> np.ndarray:
    """(n, n) bool: pairs whose distance the clash check watches (i < j, > 2 bonds apart)."""
    watch = np.triu(np.ones((n_atoms, n_atoms), bool), 1)
    neighbours = {i: set(ns) for i, ns in bonded_neighbours(topology).items()}
    for i, ns in neighbours.items():
        for j in ns | {k for n in ns for k in neighbours[n]}:
            watch[min(i, j), max(i, j)] = False
    return watch


def _closest(positions: np.ndarray, boxes: np.ndarray | None, watch: np.ndarray, chunk: int = 64) -> np.ndarray:
    """(n_frames,) smallest watched pair distance (minimum image under orthorhombic boxes)."""
    out = np.empty(len(positions))
    i, j = np.nonzero(watch)
    for a in range(0, len(positions), chunk):
        d = positions[a:a + chunk, j] - positions[a:a + chunk, i]
        if boxes is not None:
            lengths = np.einsum("fii->fi", boxes[a:a + chunk])[:, None, :]
            d = d - lengths * np.round(d / lengths)
        out[a:a + chunk] = np.sqrt(np.min(np.sum(d * d, axis=-1), axis=1))
    return out


def limits_from_data(topology, positions: np.ndarray, boxes: np.ndarray | None, max_frames: int = 1000) -> ValidityLimits:
    """Limits from training frames: positions (n_frames, n_atoms, 3) nm, boxes (n_frames, 3, 3) or None."""
    pick = np.linspace(0, len(positions) - 1, min(max_frames, len(positions))).astype(int)
    x = np.asarray(positions[pick], np.float64)
    b = None if boxes is None else np.asarray(boxes[pick], np.float64)
    closest = float(_closest(x, b, _checked_pairs(topology, x.shape[1])).min())
    bonds = tuple((a.index, c.index) for a, c in topology.bonds)
    lengths = ()
    if bonds:
        idx = np.array(bonds)
        lengths = tuple(float(v) for v in np.linalg.norm(x[:, idx[:, 1]] - x[:, idx[:, 0]], axis=-1).mean(0))
    volume = None
    if boxes is not None:
        v = np.abs(np.linalg.det(np.asarray(boxes, np.float64)))
        volume = (float(v.min()), float(v.max()))
    return ValidityLimits(closest, bonds, lengths, volume)


def check_frames(topology, positions: np.ndarray, boxes: np.ndarray | None, limits: ValidityLimits,
                 uncertain: np.ndarray | None = None) -> np.ndarray:
    """(n_frames,) uint8 flag masks for frames positions (n_frames, n_atoms, 3) nm with boxes
    (n_frames, 3, 3) nm or None; uncertain: (n_frames,) bool from the ensemble, or None."""
    x = np.asarray(positions, np.float64)
    flags = np.zeros(len(x), np.uint8)
    if len(x) == 0:
        return flags
    closest = _closest(x, None if boxes is None else np.asarray(boxes, np.float64), _checked_pairs(topology, x.shape[1]))
    flags[~(closest >= CLASH_FRACTION * limits.closest_nm)] |= CLASH
    if limits.bonds:
        idx = np.array(limits.bonds)
        d = np.linalg.norm(x[:, idx[:, 1]] - x[:, idx[:, 0]], axis=-1)
        bad = ~np.all(np.abs(d / np.asarray(limits.bond_nm) - 1.0) <= BOND_TOLERANCE, axis=1)
        flags[bad] |= BROKEN
    if limits.volume_nm3 is not None and boxes is not None:
        v = np.abs(np.linalg.det(np.asarray(boxes, np.float64)))
        lo, hi = limits.volume_nm3
        flags[~((v >= lo / VOLUME_FACTOR) & (v <= hi * VOLUME_FACTOR))] |= BOX
    if uncertain is not None:
        flags[np.asarray(uncertain, bool)] |= UNCERTAIN
    return flags


def describe(flags: np.ndarray) -> dict[str, int]:
    """Counts of frames per failed check."""
    return {name: int(np.count_nonzero(flags & bit)) for bit, name in NAMES.items()}
