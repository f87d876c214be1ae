"""Alanine dipeptide in vacuum for `sciwm bench`: Ramachandran distributions, basin populations and
free energies, core-to-core rates and MSM implied timescales, world model against reference MD.

Every metric is computed twice: world model (emulated) against reference run b, and reference run
a against run b (the noise floor: two independent runs of equal length). The reference runs are
read at the emulator's jump Δτ (every `stride`-th saved frame), so all three samples have the same
frame spacing. Conventions (sciwm.analysis): angles radians; Jensen-Shannon distance = sqrt of the
divergence, natural log, 50 x 50 bins on [-pi, pi)^2 (2-D) or 50 bins (1-D), range [0, sqrt(ln 2)];
alpha-R: phi < 0, -120 < psi < 30 deg; beta: phi < 0 and psi > 50 or < -150 deg; dG = G_alphaR -
G_beta = -kT ln(p_alphaR / p_beta), kJ/mol; rates: core-to-core switches per ns; MSM: 10 x 10 grid
of 36-degree cells on (phi, psi), reversible maximum-likelihood estimator (sciwm.bench.metrics).
Error bars: 95% block bootstrap (reference: 10 contiguous blocks; world model: blocks within
each replica), 200 resamples.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from sciwm import analysis
from sciwm.bench import figures, metrics
from sciwm.bench.cache import ReferenceRun
from sciwm.bench.report import Bench, Case, condition, fmt, label
from sciwm.errors import InputError
from sciwm.train.presets import TrainConfig, get_preset

NAME = "ala2"
FRAME_PS = 1.0  # reference save interval
OBSERVABLES = {"alpha_r_population": "", "potential_energy_kj_mol": "kJ/mol"}  # name -> unit
N_BLOCKS, N_BOOT, MSM_GRID = 10, 200, 10


@dataclass(frozen=True)
class Ala2Part:
    """Sizes of the alanine-dipeptide part. train_T / eval_T: set-points (K) of the training runs
    and of the evaluation conditions; train_ns / eval_ns: length of each reference run (ns; two
    per evaluation condition); equilibrate_ps: unsaved MD before each; lag_ps: the emulator's
    jump Δτ (ps), a multiple of the 1 ps reference frames; replicas: emulated rollouts per
    condition, together as long as one reference run; msm_lags: MSM lags in units of Δτ;
    budget_s: wall seconds each side gets in the equal-budget comparison (the runs must be long
    enough to hold what that buys); speed_ps: length of each OpenMM run timed in the speed stage;
    ensemble: K members; train_preset + train: the training preset and its overrides."""

    train_T: tuple[float, ...] = (300.0, 350.0)
    eval_T: tuple[float, ...] = (300.0, 325.0, 400.0)
    train_ns: float = 1.0
    eval_ns: float = 1.0
    equilibrate_ps: float = 20.0
    lag_ps: float = 1.0
    replicas: int = 10
    msm_lags: tuple[int, ...] = (1, 2, 5, 10, 20)
    budget_s: float = 2.0
    speed_ps: float = 200.0
    ensemble: int = 2
    train_preset: str = "debug"
    train: dict = field(default_factory=dict)


SMALL_NET = {"hidden_scalars": 16, "hidden_vectors": 4, "lmax": 1, "n_layers": 1, "n_neighbors": 21, "cutoff_nm": 1.5}
PARTS = {
    # tests only: seconds of MD, a few optimiser steps; the numbers mean nothing
    "tiny": Ala2Part(train_T=(300.0,), eval_T=(300.0, 350.0), train_ns=0.1, eval_ns=0.05, equilibrate_ps=2.0,
                     replicas=2, msm_lags=(1, 2), budget_s=0.2, speed_ps=20.0,
                     train={"steps": 10, "head_steps": 20, "lags_ps": (1.0, 2.0)}),
    # minutes on a 2-core CPU: a small network trained briefly; rough numbers by design
    "quick": Ala2Part(eval_T=(275.0, 300.0, 325.0, 350.0, 375.0, 400.0), ensemble=3,
                      train={"steps": 300, "head_steps": 200, "batch_size": 16, "lags_ps": (1.0, 10.0),
                             "warmup_steps": 20, "eval_every": 50, "checkpoint_every": 100, "model": SMALL_NET}),
    "ala2": Ala2Part(train_T=(300.0, 350.0, 400.0, 450.0), eval_T=(300.0, 325.0, 375.0, 500.0), train_ns=5.0,
                     eval_ns=2.0, equilibrate_ps=50.0, replicas=20, msm_lags=(1, 2, 5, 10, 20, 50), ensemble=3,
                     budget_s=4.0,
                     train_preset="ala2", train={"steps": 2000, "batch_size": 16, "lags_ps": (1.0, 10.0, 100.0),
                                                 "warmup_steps": 100, "ema_decay": 0.995, "eval_every": 100,
                                                 "checkpoint_every": 200}),
}
# 10-ps jumps: on a 2-core CPU 1-ps jumps of 20 replicas x 3 members take ~30 min per 10-ns condition
PARTS["full"] = replace(PARTS["ala2"], train_ns=20.0, eval_ns=10.0, budget_s=20.0, lag_ps=10.0,
                        msm_lags=(1, 2, 5, 10), train=PARTS["ala2"].train | {"steps": 3000})


def train_config(part: Ala2Part, seed: int) -> TrainConfig:
    return get_preset(part.train_preset, **({"seed": seed, "ensemble": part.ensemble} | part.train))


def run_spec(part: Ala2Part, path: str, protocol: str, seed: int, equilibrate: bool = True) -> ReferenceRun:
    """One reference run: OpenMM Reference platform (fastest for 22 atoms), frames every 1 ps."""
    options = {"equilibrate_ps": part.equilibrate_ps if equilibrate else 0.0, "platform": "Reference"}
    return ReferenceRun(path, NAME, protocol, seed, FRAME_PS, options)


def reference_specs(part: Ala2Part, cache: str, seed: int) -> tuple[list[ReferenceRun], list[ReferenceRun], list[Case]]:
    """(training runs, evaluation runs, evaluation cases); Reference platform, frames every 1 ps."""
    if part.lag_ps < FRAME_PS or abs(part.lag_ps / FRAME_PS - round(part.lag_ps / FRAME_PS)) > 1e-9:
        raise InputError(f"ala2 lag {part.lag_ps:g} ps must be a whole multiple of the {FRAME_PS:g} ps frames")

    def spec(name, T, ns, s):
        return run_spec(part, os.path.join(cache, "ref", f"{name}.h5"), f"T={T:g}K,t={ns * 1000:g}ps", s)

    train = [spec(f"ala2-train-{T:g}K", T, part.train_ns, 1000 * seed + i) for i, T in enumerate(part.train_T)]
    evals, cases = [], []
    for i, T in enumerate(part.eval_T):
        a, b = (spec(f"ala2-{T:g}K-ref-{k}", T, part.eval_ns, 1000 * seed + 100 + 2 * i + j)
                for j, k in enumerate("ab"))
        evals += [a, b]
        cases.append(Case(NAME, T, None, condition((T,), [(t,) for t in part.train_T]), a.path, b.path,
                          os.path.join(cache, "emulated", f"ala2-{T:g}K.h5")))
    return train, evals, cases


def _stride(part: Ala2Part) -> int:
    return max(1, round(part.lag_ps / FRAME_PS))


def _sequences(traj, stride: int) -> list[np.ndarray]:
    """(n, 2) phi/psi of each replica (one for a reference run), every stride-th frame."""
    angles = analysis.phi_psi(traj)
    return [angles[idx][::stride] for idx in analysis.split_replicas(traj)]


def _blocks(seqs: list[np.ndarray]) -> list[np.ndarray]:
    per = max(1, -(-N_BLOCKS // len(seqs)))
    return [b for s in seqs for b in metrics.split_blocks(analysis.core_states(s), per) if len(b)]


def _basins(seqs: list[np.ndarray], T: float) -> metrics.Interval:
    """Bootstrap of (p_alphaR, p_beta, dG alphaR - beta in kJ/mol)."""
    def fn(blocks):
        pa, pb = metrics.basin_populations(np.concatenate(blocks), [analysis.ALPHA_R, analysis.BETA])
        dg = metrics.free_energy_difference(pa, pb, T)
        return np.array([pa, pb, dg if np.isfinite(dg) else np.nan])  # an empty basin: dG undefined
    with warnings.catch_warnings():  # all-NaN resamples (an empty basin) give NaN bounds, as they should
        warnings.simplefilter("ignore", RuntimeWarning)
        return metrics.bootstrap(fn, _blocks(seqs), n=N_BOOT, seed=0)


def _timescales(seqs: list[np.ndarray], part: Ala2Part) -> np.ndarray:
    """(n_lags, 2) slowest implied timescales in ps; NaN where the MSM cannot be estimated."""
    dtrajs = [metrics.ramachandran_states(s, MSM_GRID) for s in seqs]
    rows = []
    for lag in part.msm_lags:
        try:
            rows.append(metrics.implied_timescales(dtrajs, lag, part.lag_ps, k=2, n_states=MSM_GRID**2))
        except InputError:
            rows.append(np.full(2, np.nan))
    return np.array(rows)


def compare_case(part: Ala2Part, bench: Bench, case: Case, a, b, emu, world=None) -> dict:
    """Record every ala2 comparison of one condition; per-condition figures; returns the numbers."""
    stride = _stride(part)
    seqs = {"a": _sequences(a, stride), "b": _sequences(b, stride), "emu": _sequences(emu, 1)}
    ang = {k: np.concatenate(v) for k, v in seqs.items()}
    paths = {"a": bench.keep(case.ref_a), "b": bench.keep(case.ref_b),
             "emu": bench.keep(case.emulated, f"{case.name}-emulated.h5")}
    kw = dict(reference=paths["b"], emulated=paths["emu"], repeat=paths["a"], system=NAME, stride=stride,
              lag_ps=part.lag_ps, **case.where())
    one_d = lambda i: lambda x, y: analysis.js_distance_1d(x[:, i], y[:, i])  # noqa: E731
    for metric, fn in (("jsd_phi_psi_2d", analysis.js_distance), ("jsd_phi_1d", one_d(0)), ("jsd_psi_1d", one_d(1))):
        bench.compare(metric, fn(ang["emu"], ang["b"]), fn(ang["a"], ang["b"]), **kw)
    basins = {k: _basins(v, case.temperature_K) for k, v in seqs.items()}
    alpha = {k: float(analysis.alpha_r(v).mean()) for k, v in ang.items()}
    bench.compare("alpha_r_abs_error", abs(alpha["emu"] - alpha["b"]), abs(alpha["a"] - alpha["b"]),
                  populations={k: alpha[k] for k in ("b", "a", "emu")}, **kw)
    dg = {k: float(v.value[2]) for k, v in basins.items()}
    bench.compare("dG_alphaR_beta_abs_error", abs(dg["emu"] - dg["b"]), abs(dg["a"] - dg["b"]), unit="kJ/mol",
                  dG={k: dg[k] for k in ("b", "a", "emu")},
                  ci={k: [float(basins[k].low[2]), float(basins[k].high[2])] for k in ("b", "a", "emu")}, **kw)
    rate = {k: analysis.transition_rate_per_ns(v, part.lag_ps) for k, v in seqs.items()}
    ratio = lambda x, y: x / y if y > 0 else float("nan")  # noqa: E731
    bench.compare("transition_rate_ratio", ratio(rate["emu"], rate["b"]), ratio(rate["a"], rate["b"]),
                  rates_per_ns={k: rate[k] for k in ("b", "a", "emu")}, **kw)
    its = {k: _timescales(v, part) for k, v in seqs.items()}
    mid = len(part.msm_lags) // 2
    bench.compare("slowest_timescale_ratio", ratio(its["emu"][mid, 0], its["b"][mid, 0]),
                  ratio(its["a"][mid, 0], its["b"][mid, 0]), msm_lag_ps=part.msm_lags[mid] * part.lag_ps,
                  timescales_ps={k: float(its[k][mid, 0]) for k in ("b", "a", "emu")}, **kw)
    title = f"alanine dipeptide, {case.label}"
    path = os.path.join(bench.out, f"ramachandran-{case.name}.png")
    bench.figure(figures.ramachandran_pair(ang["b"], ang["emu"], path, titles=("reference MD (run b)", "world model"),
                                           suptitle=title),
                 f"Ramachandran plot, {case.label}: reference run b (left) and world model (right)")
    lags = np.array(part.msm_lags) * part.lag_ps
    path = os.path.join(bench.out, f"timescales-{case.name}.png")
    bench.figure(figures.timescales_plot(lags, its["b"], its["emu"], path, title=f"MSM implied timescales, {title}"),
                 f"Implied timescales against lag, {case.label} (reference run b solid, world model dashed)")
    return {"case": case, "basins": basins, "rates": rate, "its": its}


def summarise(part: Ala2Part, bench: Bench, results: list[dict]) -> None:
    """Cross-condition figures and tables: distances, populations with error bars, kinetics."""
    for tag, names in (("2d", ("jsd_phi_psi_2d",)), ("1d", ("jsd_phi_1d", "jsd_psi_1d"))):
        values, floor = {}, {}
        for c in (e for e in bench.comparisons if e["system"] == NAME and e["metric"] in names):
            key = f"{label(c['metric'])}\n{c['temperature_K']:g} K ({c['condition']})"
            values[key], floor[key] = c["value"], c["noise_floor"]
        path = os.path.join(bench.out, f"ala2-jsd-{tag}.png")
        what = "2-D (phi, psi)" if tag == "2d" else "1-D (phi and psi)"
        title = f"Alanine dipeptide: {what} Jensen-Shannon distance to reference run b"
        bench.figure(figures.bar_comparison(values, path, noise_floor=floor, title=title),
                     f"{what} Jensen-Shannon distances to reference run b: world model (blue) beside the noise floor "
                     "(grey: reference run a)")
    pops, ref, err, ref_err, rows, kin = {}, {}, {}, {}, [], []
    for r in results:
        case, bs = r["case"], r["basins"]
        for i, basin in enumerate(("alpha-R", "beta")):
            key = f"{basin} population\n{case.temperature_K:g} K ({case.condition})"
            pops[key], ref[key] = float(bs["emu"].value[i]), float(bs["b"].value[i])
            err[key] = (float(bs["emu"].low[i]), float(bs["emu"].high[i]))
            ref_err[key] = (float(bs["b"].low[i]), float(bs["b"].high[i]))
        for k, name in (("b", "reference b"), ("a", "reference a"), ("emu", "world model")):
            v = bs[k]
            rows.append([case.label, name] + [f"{fmt(v.value[i])} [{fmt(v.low[i])}, {fmt(v.high[i])}]"
                                              for i in range(3)])
            kin.append([case.label, name, fmt(r["rates"][k])] + [fmt(x) for x in r["its"][k][:, 0]])
    bench.figure(figures.bar_comparison(pops, os.path.join(bench.out, "ala2-populations.png"), noise_floor=ref,
                                        errors=err, noise_errors=ref_err,
                                        labels=("world model", "reference MD (run b)"),
                                        title="Alanine dipeptide: basin populations (95% bootstrap intervals)"),
                 "Basin populations with 95% block-bootstrap intervals: world model (blue), reference run b (grey)")
    bench.table("Alanine dipeptide: basin populations and free energies (95% bootstrap intervals)",
                ["condition", "run", "p(alpha-R)", "p(beta)", "dG alpha-R - beta (kJ/mol)"], rows)
    lags = [f"t1 at {lag * part.lag_ps:g} ps" for lag in part.msm_lags]
    bench.table("Alanine dipeptide: kinetics", ["condition", "run", "core-to-core rate (1/ns)"] + lags, kin,
                f"Rates counted on frames {part.lag_ps:g} ps apart. t1: slowest MSM implied timescale (ps) at each "
                "lag; a timescale shorter than its lag is not resolved.")


def budget_metrics(part: Ala2Part, b, sample) -> dict[str, float]:
    """Metrics of an equal-budget sample (all its frames) against reference run b at Δτ."""
    ref = analysis.phi_psi(b)[::_stride(part)]
    ang = analysis.phi_psi(sample)
    return {"jsd_phi_psi_2d": analysis.js_distance(ang, ref),
            "alpha_r_abs_error": abs(float(analysis.alpha_r(ang).mean() - analysis.alpha_r(ref).mean()))}
