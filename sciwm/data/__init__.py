"""Trajectory files (mdtraj HDF5 with sciwm's set-points and run record)."""
from sciwm.data.store import read_trajectory, write_trajectory

__all__ = ["read_trajectory", "write_trajectory"]
