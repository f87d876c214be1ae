"""sciwm: a scientific world model for molecular dynamics.

Subpackages: systems (what to simulate), engines (OpenMM, ASE and, later, the emulator behind one
protocol), data (trajectory files), cli (the `sciwm` command).
"""
__version__ = "0.1.0"
