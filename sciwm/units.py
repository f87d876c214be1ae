"""Units and quantity parsing.

sciwm uses OpenMM's units everywhere inside the package: length nm, time ps, energy kJ/mol,
temperature K, pressure bar, mass dalton (g/mol). Adapters (OpenMM, ASE) convert at the boundary
and nowhere else.
"""
from __future__ import annotations

import re

from sciwm.errors import InputError

# Physical constants in sciwm units.
BOLTZMANN_KJ_PER_MOL_K = 0.0083144626181532  # k_B * N_A, kJ/(mol K)
AVOGADRO = 6.02214076e23  # 1/mol
BAR_NM3_IN_KJ_PER_MOL = 1e5 * 1e-27 * AVOGADRO / 1e3  # 1 bar * 1 nm^3 in kJ/mol (= 0.0602...)

_TIME_PS = {"fs": 1e-3, "ps": 1.0, "ns": 1e3, "us": 1e6}
_PRESSURE_BAR = {"bar": 1.0, "atm": 1.01325}
_TEMPERATURE_K = {"K": 1.0}
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]+)\s*$")


def _parse(text: str, table: dict[str, float], what: str) -> float:
    match = _QUANTITY.match(text)
    if match is None or match.group(2) not in table:
        units = ", ".join(table)
        raise InputError(f"cannot read {what} {text!r}: expected a number with a unit ({units})")
    return float(match.group(1)) * table[match.group(2)]


def parse_time_ps(text: str) -> float:
    """'100ps', '2 fs', '1ns' -> time in ps."""
    return _parse(text, _TIME_PS, "time")


def parse_pressure_bar(text: str) -> float:
    """'1bar', '1 atm' -> pressure in bar."""
    return _parse(text, _PRESSURE_BAR, "pressure")


def parse_temperature_k(text: str) -> float:
    """'300K' -> temperature in K."""
    return _parse(text, _TEMPERATURE_K, "temperature")


def format_time_ps(t_ps: float) -> str:
    """Shortest readable form of a time in ps: 0.002 -> '2fs', 1000 -> '1ns'."""
    for unit in ("ns", "ps", "fs"):
        value = t_ps / _TIME_PS[unit]
        if abs(value) >= 1 or unit == "fs":
            return f"{value:.15g}{unit}"
    raise AssertionError("unreachable")


def kinetic_temperature(kinetic_energy_kj_mol, n_dof: int):
    """Instantaneous temperature (K) from kinetic energy (kJ/mol) and degrees of freedom."""
    return 2.0 * kinetic_energy_kj_mol / (n_dof * BOLTZMANN_KJ_PER_MOL_K)
