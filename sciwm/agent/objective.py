"""What a campaign optimises: one observable, optionally under two-sided constraints.

The loss (to minimise, in the observable's units):
  target:   |y - target|
  maximise: -y
  minimise:  y
A constraint `|c - target| <= tolerance` must hold at a feasible point; the best point of a
campaign is the feasible one with the lowest loss ("maximise D subject to |rho - rho*| <= tol",
constrained Bayesian optimisation as in Gardner et al., ICML 2014). No penalty weights: the
acquisition multiplies the objective's expected improvement by the probability of feasibility.

OBSERVABLES names what a campaign may optimise or constrain, with units; `sciwm.agent.observables`
computes them from a trajectory, and a world model must report them under the same names.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

OBSERVABLES = {
    "density_g_cm3": "mean mass density, g/cm^3 (periodic systems)",
    "diffusion_nm2_ps": "self-diffusion coefficient from the mean squared displacement, nm^2/ps",
    "alpha_r_population": "fraction of frames with phi < 0 and -120 deg < psi < 30 deg (dipeptides)",
    "potential_energy_kj_mol": "mean potential energy, kJ/mol",
    "temperature_K": "mean instantaneous (kinetic) temperature, K",
}

MODES = ("target", "maximise", "minimise")


@dataclass(frozen=True)
class Constraint:
    """|observable - target| <= tolerance (observable units; tolerance > 0)."""

    observable: str
    target: float
    tolerance: float

    def satisfied(self, values: dict[str, float]) -> bool:
        y = values.get(self.observable)
        return y is not None and math.isfinite(y) and abs(y - self.target) <= self.tolerance


@dataclass(frozen=True)
class Objective:
    """observable and mode (one of MODES); target is required for mode 'target' only."""

    observable: str
    mode: str
    target: float | None = None
    constraints: tuple[Constraint, ...] = ()

    @property
    def observables(self) -> tuple[str, ...]:
        """Every observable the campaign models: the objective's first, then the constraints'."""
        names = [self.observable] + [c.observable for c in self.constraints]
        return tuple(dict.fromkeys(names))

    def loss_of(self, y: float) -> float:
        if self.mode == "target":
            return abs(y - self.target)
        return -y if self.mode == "maximise" else y

    def loss(self, values: dict[str, float]) -> float:
        """Loss of one evaluation (inf when the objective observable is missing or not finite)."""
        y = values.get(self.observable)
        return self.loss_of(y) if y is not None and math.isfinite(y) else math.inf

    def feasible(self, values: dict[str, float]) -> bool:
        return all(c.satisfied(values) for c in self.constraints)

    def display(self, loss: float) -> float:
        """The number a person reads for a loss: the observable itself for maximise/minimise,
        the distance |y - target| for target mode."""
        return -loss if self.mode == "maximise" else loss

    def describe(self) -> str:
        goal = f"bring {self.observable} to {self.target:g}" if self.mode == "target" else \
            f"{self.mode} {self.observable}"
        subject = " and ".join(f"|{c.observable} - {c.target:g}| <= {c.tolerance:g}" for c in self.constraints)
        return goal + (f" subject to {subject}" if subject else "")

