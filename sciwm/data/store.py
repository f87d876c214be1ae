"""Trajectory store: mdtraj's HDF5 format plus sciwm's per-frame set-points and run record.

`mdtraj.load(path)` reads every file written here (coordinates nm, time ps, unit cell for
periodic systems). The format's own per-frame arrays hold potentialEnergy and kineticEnergy
(kJ/mol) and temperature (K, instantaneous). sciwm adds a group /sciwm with per-frame arrays
setpoint_temperature (K), setpoint_pressure (bar, NaN for NVT), segment (int) and any extra
arrays (e.g. emulator uncertainty), and the run record as JSON in the root attribute
`sciwm_run_record`. Files are written to a temporary name in the target folder and renamed, so a
reader never sees half a file.
"""
from __future__ import annotations

import json
import os

import numpy as np
import tables
from mdtraj.formats import HDF5TrajectoryFile
from mdtraj.utils import box_vectors_to_lengths_and_angles, lengths_and_angles_to_box_vectors

from sciwm.data.files import write_atomic
from sciwm.engines.trajectory import RunRecord, Trajectory
from sciwm.errors import InputError

GROUP = "sciwm"
RECORD_ATTR = "sciwm_run_record"
_SETPOINTS = ("setpoint_temperature", "setpoint_pressure", "segment")


def write_trajectory(traj: Trajectory, path: str) -> None:
    """Write atomically (sciwm.data.files.write_atomic): never half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise InputError(f"cannot write {path}: folder {folder} is not writable")
    write_atomic(path, lambda tmp: _write(traj, tmp), suffix=".h5")


def _write(traj: Trajectory, path: str) -> None:
    cell_lengths = cell_angles = None
    if traj.box is not None:
        a, b, c, alpha, beta, gamma = box_vectors_to_lengths_and_angles(
            traj.box[:, 0], traj.box[:, 1], traj.box[:, 2])
        cell_lengths = np.stack([a, b, c], 1).astype(np.float32)
        cell_angles = np.stack([alpha, beta, gamma], 1).astype(np.float32)
    with HDF5TrajectoryFile(path, "w", force_overwrite=True) as f:
        f.topology = traj.topology
        f.write(coordinates=traj.positions.astype(np.float32), time=traj.time_ps.astype(np.float32),
                cell_lengths=cell_lengths, cell_angles=cell_angles,
                potentialEnergy=traj.potential_energy.astype(np.float32),
                kineticEnergy=traj.kinetic_energy.astype(np.float32),
                temperature=traj.temperature.astype(np.float32))
    with tables.open_file(path, "a") as h5:
        group = h5.create_group("/", GROUP)
        arrays = {name: getattr(traj, name) for name in _SETPOINTS} | traj.extra
        for name, values in arrays.items():
            values = np.asarray(values)
            if len(values) != traj.n_frames:
                raise ValueError(f"per-frame array {name} has {len(values)} rows for {traj.n_frames} frames")
            h5.create_array(group, name, values)
        if traj.record is not None:
            h5.root._v_attrs[RECORD_ATTR] = json.dumps(traj.record.to_json())


def read_trajectory(path: str) -> Trajectory:
    """Read a file written by write_trajectory (or any mdtraj HDF5 file; then set-points are NaN)."""
    if not os.path.isfile(path):
        raise InputError(f"no such trajectory file: {path}")
    try:
        with HDF5TrajectoryFile(path, "r") as f:
            topology = f.topology
            data = f.read()
    except Exception as exc:
        raise InputError(f"cannot read trajectory {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    n = len(data.coordinates)
    box = None
    if data.cell_lengths is not None:
        lengths, angles = data.cell_lengths.astype(float), data.cell_angles.astype(float)
        box = np.stack(lengths_and_angles_to_box_vectors(*lengths.T, *angles.T), 1)
    setpoints = {"setpoint_temperature": np.full(n, np.nan), "setpoint_pressure": np.full(n, np.nan),
                 "segment": np.zeros(n, np.int32)}
    extra, record = {}, None
    with tables.open_file(path, "r") as h5:
        if f"/{GROUP}" in h5:
            for node in h5.get_node(f"/{GROUP}"):
                target = setpoints if node.name in setpoints else extra
                target[node.name] = node.read()
        if RECORD_ATTR in h5.root._v_attrs:
            record = RunRecord.from_json(json.loads(h5.root._v_attrs[RECORD_ATTR]))

    def per_frame(values):
        return np.full(n, np.nan) if values is None else np.asarray(values, dtype=float)

    return Trajectory(
        topology=topology, time_ps=np.asarray(data.time, dtype=float), positions=data.coordinates, box=box,
        potential_energy=per_frame(data.potentialEnergy), kinetic_energy=per_frame(data.kineticEnergy),
        temperature=per_frame(data.temperature), record=record, extra=extra, **setpoints)

