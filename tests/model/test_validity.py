"""Validity checks: reference frames pass; clashes, broken bonds and box collapse are caught."""
import numpy as np

from sciwm.model import validity
from sciwm.engines.openmm_engine import OpenMMEngine
from sciwm.protocol import parse_protocol
from sciwm.systems import get_system


def test_reference_frames_pass_and_damaged_frames_are_flagged():
    traj = OpenMMEngine().run(get_system("ala2"), parse_protocol("T=300K,t=10ps"), save_every_ps=0.5, seed=0)
    limits = validity.limits_from_data(traj.topology, traj.positions, None)
    assert not validity.check_frames(traj.topology, traj.positions, None, limits).any()
    x = np.repeat(traj.positions[-1:], 4, axis=0).copy()
    i, j = 0, 19  # far apart in the chain: moving one onto the other is a clash
    x[1, j] = x[1, i] + 0.01
    bond = next(iter(traj.topology.bonds))
    x[2, bond[1].index] += 0.1  # a 0.1 nm stretch breaks a ~0.1-0.15 nm bond
    flags = validity.check_frames(traj.topology, x, None, limits, uncertain=np.array([0, 0, 0, 1], bool))
    assert flags[0] == 0
    assert flags[1] & validity.CLASH
    assert flags[2] & validity.BROKEN
    assert flags[3] == validity.UNCERTAIN
    assert validity.describe(flags)["clash"] >= 1


def test_box_collapse_is_flagged(lj_system):
    box = np.repeat(lj_system.box[None], 3, axis=0)
    x = np.repeat(lj_system.positions[None], 3, axis=0)
    limits = validity.limits_from_data(lj_system.topology, x[:1], box[:1])
    box[1] *= 0.7  # volume x0.34: a collapse (and, at that density, clashes)
    box[2] *= 1.5  # volume x3.4: blown apart
    x[1] *= 0.7
    flags = validity.check_frames(lj_system.topology, x, box, limits)
    assert flags[0] == 0 and flags[1] & validity.BOX and flags[2] & validity.BOX
    restored = validity.ValidityLimits.from_json(limits.to_json())
    assert restored == limits
