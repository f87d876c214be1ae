"""Argon Lennard-Jones liquid (NPT) for `sciwm bench`: radial distribution function, density,
potential energy and self-diffusion, world model against reference MD, across temperatures and
pressures.

Every metric is computed twice, world model against reference run b and reference run a against
run b (the noise floor), on reference frames Δτ apart. Conventions: g(r) over all atom pairs, 0.01 nm
bins up to 1 nm (sciwm.analysis.rdf), MAE = mean |g1 - g2| over bins; density g/cm^3 from the box
(NPT), relative error |rho - rho_b| / rho_b; potential energy per atom in kJ/mol (logged by the
reference, scored by the world model's energy heads for emulated frames); D in nm^2/ps from
MSD(t) = 6 D t fitted over 10-50% of each run or replica (sciwm.analysis), ratio D / D_b.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import numpy as np

from sciwm import analysis
from sciwm.bench import figures
from sciwm.bench.cache import ReferenceRun
from sciwm.bench.report import Bench, Case, condition, label
from sciwm.errors import InputError
from sciwm.train.presets import TrainConfig, get_preset
from sciwm.world import observables

NAME = "lj"
FRAME_PS = 1.0  # reference save interval
OBSERVABLES = {"density_g_cm3": "g/cm3", "potential_energy_kj_mol": "kJ/mol"}  # name -> unit


@dataclass(frozen=True)
class LjPart:
    """Sizes of the Lennard-Jones part. train / evaluate: (T in K, P in bar) set-points of the
    training runs and of the evaluation conditions; train_ps / eval_ps: length of each reference
    run (ps; two per evaluation condition); equilibrate_ps: unsaved NPT MD before each; n_atoms
    (more than ~173 at this density, for the cutoff); lag_ps: the emulator's jump (a multiple of
    the 1 ps frames); replicas: emulated rollouts per condition, together as long as one reference
    run; budget_s: wall seconds each side gets in the equal-budget comparison; speed_ps: length
    of each OpenMM run timed in the speed stage; ensemble: K members; train_preset +
    train_overrides: the training preset and its overrides."""

    train: tuple[tuple[float, float], ...] = ((100.0, 100.0), (100.0, 1000.0))
    evaluate: tuple[tuple[float, float], ...] = ((100.0, 100.0), (100.0, 500.0), (100.0, 2000.0))
    train_ps: float = 100.0
    eval_ps: float = 100.0
    equilibrate_ps: float = 10.0
    n_atoms: int = 256
    lag_ps: float = 1.0
    replicas: int = 4
    budget_s: float = 5.0
    speed_ps: float = 10.0
    ensemble: int = 2
    train_preset: str = "lj"
    train_overrides: dict = field(default_factory=dict)


SMALL_NET = {"hidden_scalars": 16, "hidden_vectors": 4, "lmax": 1, "n_layers": 1, "n_neighbors": 12, "cutoff_nm": 0.7}
PARTS = {
    # minutes on a 2-core CPU: short runs at one temperature, a small network trained briefly
    "quick": LjPart(train_overrides={"steps": 150, "batch_size": 2, "head_steps": 100, "eval_every": 50,
                                     "checkpoint_every": 150, "warmup_steps": 20, "model": SMALL_NET}),
    "lj": LjPart(train=((90.0, 100.0), (90.0, 1000.0), (110.0, 100.0), (110.0, 1000.0)),
                 evaluate=((90.0, 100.0), (100.0, 500.0), (120.0, 2000.0)), train_ps=500.0, eval_ps=300.0,
                 replicas=6, ensemble=3, budget_s=15.0, train_overrides={"steps": 600}),
}
# about an hour on a 2-core CPU (reference MD 10 ns, 3 x 1000 training steps); 5-ps jumps
PARTS["full"] = replace(PARTS["lj"], train_ps=1000.0, eval_ps=500.0, lag_ps=5.0, budget_s=20.0,
                        train_overrides={"steps": 1000})


def train_config(part: LjPart, seed: int) -> TrainConfig:
    return get_preset(part.train_preset, **({"seed": seed, "ensemble": part.ensemble} | part.train_overrides))


def run_spec(part: LjPart, path: str, protocol: str, seed: int, equilibrate: bool = True) -> ReferenceRun:
    """One reference run: OpenMM CPU platform (one thread per process), frames every 1 ps, a
    disordered start drawn with the run's seed."""
    options = {"equilibrate_ps": part.equilibrate_ps if equilibrate else 0.0, "platform": "CPU"}
    return ReferenceRun(path, NAME, protocol, seed, FRAME_PS, options, {"n_atoms": part.n_atoms, "seed": seed})


def reference_specs(part: LjPart, cache: str, seed: int) -> tuple[list[ReferenceRun], list[ReferenceRun], list[Case]]:
    """(training runs, evaluation runs, evaluation cases); OpenMM CPU platform, frames every 1 ps."""
    if part.lag_ps < FRAME_PS or abs(part.lag_ps / FRAME_PS - round(part.lag_ps / FRAME_PS)) > 1e-9:
        raise InputError(f"lj lag {part.lag_ps:g} ps must be a whole multiple of the {FRAME_PS:g} ps frames")

    def spec(name, T, P, ps, s):
        return run_spec(part, os.path.join(cache, "ref", f"{name}.h5"), f"T={T:g}K,P={P:g}bar,t={ps:g}ps", s)

    train = [spec(f"lj-train-{T:g}K-{P:g}bar", T, P, part.train_ps, 1000 * seed + 500 + i)
             for i, (T, P) in enumerate(part.train)]
    evals, cases = [], []
    for i, (T, P) in enumerate(part.evaluate):
        a, b = (spec(f"lj-{T:g}K-{P:g}bar-ref-{k}", T, P, part.eval_ps, 1000 * seed + 600 + 2 * i + j)
                for j, k in enumerate("ab"))
        evals += [a, b]
        cases.append(Case(NAME, T, P, condition((T, P), list(part.train)), a.path, b.path,
                          os.path.join(cache, "emulated", f"lj-{T:g}K-{P:g}bar.h5")))
    return train, evals, cases


def _stride(part: LjPart) -> int:
    return max(1, round(part.lag_ps / FRAME_PS))


def _diffusion(traj, stride: int) -> float:
    """Mean D (nm^2/ps) over the replicas (one for a reference run), frames every stride-th."""
    values = []
    for idx in analysis.split_replicas(traj):
        idx = idx[::stride]
        box = None if traj.box is None else traj.box[idx]
        try:
            values.append(analysis.diffusion_coefficient(traj.positions[idx], traj.time_ps[idx], box))
        except InputError:
            pass
    return float(np.mean(values)) if values else float("nan")


def compare_case(part: LjPart, bench: Bench, case: Case, a, b, emu, world) -> dict:
    """Record every LJ comparison of one condition and its g(r) figure; returns the numbers."""
    stride = _stride(part)
    trajs = {"a": a.select(slice(None, None, stride)), "b": b.select(slice(None, None, stride)), "emu": emu}
    paths = {"a": bench.keep(case.ref_a), "b": bench.keep(case.ref_b),
             "emu": bench.keep(case.emulated, f"{case.name}-emulated.h5")}
    kw = dict(reference=paths["b"], emulated=paths["emu"], repeat=paths["a"], system=NAME, stride=stride,
              lag_ps=part.lag_ps, **case.where())
    g = {}
    for k, t in trajs.items():
        r, g[k] = analysis.rdf(t)
    bench.compare("rdf_mae", float(np.mean(np.abs(g["emu"] - g["b"]))), float(np.mean(np.abs(g["a"] - g["b"]))), **kw)
    rho = {k: float(t.density_g_cm3().mean()) for k, t in trajs.items()}
    rel = lambda k: abs(rho[k] - rho["b"]) / rho["b"]  # noqa: E731
    bench.compare("density_rel_error", rel("emu"), rel("a"), densities_g_cm3={k: rho[k] for k in ("b", "a", "emu")},
                  **kw)
    heads = world.heads
    energy = {k: float(np.nanmean(observables.per_frame("potential_energy_kj_mol", t, heads))) / t.n_atoms
              if heads is not None or k != "emu" else float("nan") for k, t in trajs.items()}
    bench.compare("potential_energy_per_atom_abs_error", abs(energy["emu"] - energy["b"]),
                  abs(energy["a"] - energy["b"]), unit="kJ/mol",
                  energies_per_atom={k: energy[k] for k in ("b", "a", "emu")}, **kw)
    diff = {"a": _diffusion(a, stride), "b": _diffusion(b, stride), "emu": _diffusion(emu, 1)}
    ratio = lambda k: diff[k] / diff["b"] if diff["b"] > 0 else float("nan")  # noqa: E731
    bench.compare("diffusion_ratio", ratio("emu"), ratio("a"), diffusion_nm2_ps={k: diff[k] for k in ("b", "a", "emu")},
                  **kw)
    curves = {"reference run b": g["b"], "reference run a (noise floor)": g["a"], "world model": g["emu"]}
    bench.figure(figures.rdf_plot(r, curves, os.path.join(bench.out, f"rdf-{case.name}.png"),
                                  title=f"Lennard-Jones argon, {case.label}"),
                 f"Radial distribution function, {case.label}; lower panel: difference to reference run b")
    return {"case": case, "density": rho, "energy": energy, "diffusion": diff}


def summarise(part: LjPart, bench: Bench, results: list[dict]) -> None:
    """Density and energy per condition (world model beside reference b), distances beside the floor."""
    values, ref = {}, {}
    for name, key, sign in (("density (g/cm3)", "density", 1.0), ("-U per atom (kJ/mol)", "energy", -1.0)):
        for r in results:
            c = r["case"]
            panel = f"{name}\n{c.temperature_K:g} K, {c.pressure_bar:g} bar\n({c.condition})"
            values[panel], ref[panel] = sign * r[key]["emu"], sign * r[key]["b"]
    bench.figure(figures.bar_comparison(values, os.path.join(bench.out, "lj-thermodynamics.png"), noise_floor=ref,
                                        labels=("world model", "reference MD (run b)"),
                                        title="Lennard-Jones: density and potential energy across conditions"),
                 "Density and minus the potential energy per atom: world model (blue), reference run b (grey)")
    values, floor = {}, {}
    for c in (e for m in ("rdf_mae", "density_rel_error") for e in bench.comparisons
              if e["system"] == NAME and e["metric"] == m):
        key = f"{label(c['metric'])}\n{c['temperature_K']:g} K, {c['pressure_bar']:g} bar\n({c['condition']})"
        values[key], floor[key] = c["value"], c["noise_floor"]
    bench.figure(figures.bar_comparison(values, os.path.join(bench.out, "lj-distances.png"), noise_floor=floor,
                                        title="Lennard-Jones: distances to reference run b"),
                 "RDF mean absolute error and relative density error: world model (blue) beside the noise floor (grey)")


def budget_metrics(part: LjPart, b, sample) -> dict[str, float]:
    """Metrics of an equal-budget sample (all its frames) against reference run b at Δτ."""
    ref = b.select(slice(None, None, _stride(part)))
    _, g_ref = analysis.rdf(ref)
    _, g = analysis.rdf(sample)
    rho_b = float(ref.density_g_cm3().mean())
    return {"rdf_mae": float(np.mean(np.abs(g - g_ref))),
            "density_rel_error": abs(float(sample.density_g_cm3().mean()) - rho_b) / rho_b}
