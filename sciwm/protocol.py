"""Interventions: piecewise temperature / pressure schedules (the actions of the semi-MDP).

A protocol is a sequence of segments, each holding a temperature (K) and optionally a pressure
(bar; None means constant volume) for a duration (ps). On the command line::

    "T=300K,P=1bar,t=100ps; T=350K,t=50ps"
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from sciwm.errors import InputError
from sciwm.units import format_time_ps, parse_pressure_bar, parse_temperature_k, parse_time_ps


@dataclass(frozen=True)
class Segment:
    """One intervention held for a duration.

    temperature_k: thermostat set-point, K (> 0).
    pressure_bar: barostat set-point, bar, or None for constant volume (NVT).
    duration_ps: how long the set-point is held, ps (> 0).
    """

    temperature_k: float
    pressure_bar: float | None
    duration_ps: float

    def __post_init__(self):
        if not (math.isfinite(self.temperature_k) and self.temperature_k > 0):
            raise InputError(f"temperature must be positive, got {self.temperature_k:g} K")
        if not (math.isfinite(self.duration_ps) and self.duration_ps > 0):
            raise InputError(f"segment duration must be positive, got {self.duration_ps:g} ps")
        if self.pressure_bar is not None and not math.isfinite(self.pressure_bar):
            raise InputError(f"pressure must be finite, got {self.pressure_bar}")

    @property
    def ensemble(self) -> str:
        return "NVT" if self.pressure_bar is None else "NPT"

    def __str__(self) -> str:
        parts = [f"T={self.temperature_k:.15g}K"]
        if self.pressure_bar is not None:
            parts.append(f"P={self.pressure_bar:.15g}bar")
        parts.append(f"t={format_time_ps(self.duration_ps)}")
        return ",".join(parts)


@dataclass(frozen=True)
class Protocol:
    """An ordered, non-empty sequence of segments."""

    segments: tuple[Segment, ...]

    def __post_init__(self):
        if not self.segments:
            raise InputError("a protocol needs at least one segment")

    @property
    def duration_ps(self) -> float:
        return sum(s.duration_ps for s in self.segments)

    @property
    def has_pressure(self) -> bool:
        return any(s.pressure_bar is not None for s in self.segments)

    def __str__(self) -> str:
        return "; ".join(str(s) for s in self.segments)

    def to_json(self) -> list[dict]:
        return [
            {"temperature_K": s.temperature_k, "pressure_bar": s.pressure_bar, "duration_ps": s.duration_ps}
            for s in self.segments
        ]

    @classmethod
    def from_json(cls, items: list[dict]) -> "Protocol":
        return cls(tuple(Segment(d["temperature_K"], d["pressure_bar"], d["duration_ps"]) for d in items))


_KEYS = {"T": parse_temperature_k, "P": parse_pressure_bar, "t": parse_time_ps}


def _parse_segment(text: str) -> Segment:
    values = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in _KEYS:
            raise InputError(f"cannot read protocol item {item.strip()!r}: expected T=..K, P=..bar or t=..ps")
        if key in values:
            raise InputError(f"protocol segment {text.strip()!r} sets {key} twice")
        values[key] = _KEYS[key](value)
    for key in ("T", "t"):
        if key not in values:
            raise InputError(f"protocol segment {text.strip()!r} needs {key}=")
    return Segment(values["T"], values.get("P"), values["t"])


def parse_protocol(text: str) -> Protocol:
    """Parse 'T=300K,P=1bar,t=100ps; T=350K,t=50ps' into a Protocol (raises InputError)."""
    pieces = [p for p in text.split(";") if p.strip()]
    if not pieces:
        raise InputError(f"empty protocol {text!r}")
    return Protocol(tuple(_parse_segment(p) for p in pieces))
