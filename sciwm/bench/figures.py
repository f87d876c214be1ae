"""Figures for `sciwm bench` reports: PNG files a person reads next to report.md.

Each function takes plain arrays (units as in `sciwm.bench.metrics`: angles radians, lengths nm,
times ps, cost seconds), writes one PNG atomically (a temporary name in the same folder, then
os.replace: never half a file) and returns its path. Figures are built on matplotlib's
object-oriented `Figure` with the Agg renderer: no pyplot global state, nothing is shown.
The first curve or panel passed is the reference; "world model" curves follow.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from sciwm.bench import metrics
from sciwm.data.files import write_atomic

DPI = 110
MISS, HIT = "tab:red", "tab:blue"


def _save(fig: Figure, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI), suffix=".png")
    return path


def _identity_line(ax, lo, hi) -> None:
    ax.plot([lo, hi], [lo, hi], color="0.4", lw=1, ls="--", label="y = x", zorder=0)


def ramachandran_pair(ref_angles: np.ndarray, emu_angles: np.ndarray, path, bins: int = 60,
                      titles: tuple[str, str] = ("reference MD", "world model"), suptitle: str | None = None) -> Path:
    """Two (n, 2) phi/psi samples (radians) as side-by-side log-density maps on one colour scale.

    Density per deg^2 on bins x bins cells over [-180, 180) deg; empty cells are left white.
    """
    edges = np.linspace(-180.0, 180.0, bins + 1)
    hists = []
    for angles in (ref_angles, emu_angles):
        deg = np.degrees(np.mod(np.asarray(angles, float) + np.pi, 2 * np.pi) - np.pi)
        h, _, _ = np.histogram2d(deg[:, 0], deg[:, 1], bins=[edges, edges], density=True)
        hists.append(np.ma.masked_equal(h.T, 0.0))  # rows psi, columns phi
    positive = [h.compressed() for h in hists if h.count()]
    vmax = max(p.max() for p in positive) if positive else 1.0
    vmin = min(p.min() for p in positive) if positive else vmax / 10
    norm = LogNorm(vmin=min(vmin, vmax / 10), vmax=vmax)
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, h, title, angles in zip(axes, hists, titles, (ref_angles, emu_angles)):
        mesh = ax.pcolormesh(edges, edges, h, norm=norm, cmap="viridis")
        ax.set(title=f"{title} ({len(angles)} frames)", xlabel="phi (deg)", aspect="equal",
               xticks=range(-180, 181, 90), yticks=range(-180, 181, 90))
        ax.grid(color="0.85", lw=0.5)
    axes[0].set_ylabel("psi (deg)")
    fig.colorbar(mesh, ax=axes, label="probability density (1/deg$^2$)", shrink=0.9)
    if suptitle:
        fig.suptitle(suptitle)
    return _save(fig, path)


def rdf_plot(r: np.ndarray, curves: dict[str, np.ndarray], path, title: str = "Radial distribution function") -> Path:
    """g(r) curves on shared r (nm); below, each curve minus the first, with its mean absolute error."""
    labels = list(curves)
    fig = Figure(figsize=(8, 5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    first = np.asarray(curves[labels[0]], float)
    for i, label in enumerate(labels):
        g = np.asarray(curves[label], float)
        style = dict(color="black", lw=2) if i == 0 else dict(lw=1.5, ls="--")
        text = label if i == 0 else f"{label} (MAE {np.mean(np.abs(g - first)):.3f})"
        top.plot(r, g, label=text, **style)
        if i:
            bottom.plot(r, g - first, lw=1.2, color=top.lines[-1].get_color())
    top.axhline(1.0, color="0.6", lw=0.8, ls=":")
    top.set(title=title, ylabel="g(r)")
    top.legend()
    bottom.axhline(0.0, color="black", lw=0.8)
    bottom.set(xlabel="r (nm)", ylabel="difference")
    return _save(fig, path)


def timescales_plot(lags: np.ndarray, ref_its: np.ndarray, emu_its: np.ndarray | None, path,
                    title: str = "MSM implied timescales") -> Path:
    """Implied timescales (n_lags, k) in ps against lag time (n_lags,) in ps, reference solid and
    world model dashed, one colour per process; the grey area (timescale < lag) is unresolved."""
    lags = np.asarray(lags, float)
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    for its, style, name in ((ref_its, dict(ls="-", marker="o"), "reference"),
                             (emu_its, dict(ls="--", marker="s", mfc="none"), "world model")):
        if its is None:
            continue
        its = np.asarray(its, float).reshape(len(lags), -1)
        for i in range(its.shape[1]):
            ax.plot(lags, its[:, i], color=f"C{i}", label=f"{name}, process {i + 1}", **style)
    finite = [np.nanmax(a) for a in (ref_its, emu_its) if a is not None and np.isfinite(a).any()]
    top, floor = max(finite + [lags.max()]) * 2, lags.min() / 2
    grid = np.linspace(0.0, lags.max() * 1.05, 200)
    ax.fill_between(grid, floor, np.maximum(grid, floor), color="0.85", label="timescale < lag\n(not resolved)")
    ax.set(yscale="log", xlim=(0, lags.max() * 1.05), ylim=(floor, top), title=title, xlabel="lag time (ps)",
           ylabel="implied timescale (ps)")
    fig.legend(fontsize=8, loc="outside right upper")
    return _save(fig, path)


def spread_vs_error(spread: np.ndarray, error: np.ndarray, path, unit: str = "",
                    title: str = "Ensemble spread versus error") -> Path:
    """Calibration: per-item ensemble spread (std) against the absolute error of the mean, with
    root-mean-square error per spread decile (from 20 items up; fewer are shown as points only);
    a calibrated ensemble lies on y = x."""
    spread, error = np.abs(np.asarray(spread, float)), np.abs(np.asarray(error, float))
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.subplots()
    few = len(spread) < 20
    ax.scatter(spread, error, s=30 if few else 8, alpha=0.8 if few else 0.35, color="0.3", label="items")
    if not few:
        order = np.argsort(spread)
        groups = [g for g in np.array_split(order, 10) if len(g)]
        ax.plot([np.sqrt(np.mean(spread[g] ** 2)) for g in groups], [np.sqrt(np.mean(error[g] ** 2)) for g in groups],
                "o-", color="tab:orange", label="RMS error per spread bin")
    hi = 1.05 * max(spread.max(), error.max(), 1e-12)
    _identity_line(ax, 0, hi)
    u = f" ({unit})" if unit else ""
    ax.set(xlim=(0, hi), ylim=(0, hi), aspect="equal", xlabel=f"ensemble spread{u}", ylabel=f"absolute error{u}",
           title=f"{title}\nSpearman rho = {metrics.spearman(spread, error):.2f}")
    ax.legend()
    return _save(fig, path)


def predicted_vs_measured(pred: np.ndarray, low: np.ndarray, high: np.ndarray, measured: np.ndarray, path,
                          unit: str = "s", title: str = "Predicted versus measured cost") -> Path:
    """Predictions with their intervals against measurements, log-log with y = x; blue points'
    intervals contain the measurement, red ones miss it. Coverage and MAPE in the title."""
    pred, low, high, measured = (np.asarray(a, float) for a in (pred, low, high, measured))
    hit = (measured >= low) & (measured <= high)
    fig = Figure(figsize=(6, 5.5), layout="constrained")
    ax = fig.subplots()
    yerr = np.clip(np.stack([pred - low, high - pred]), 0.0, None)
    for mask, color, name in ((hit, HIT, "interval contains measured"), (~hit, MISS, "interval misses")):
        if mask.any():
            ax.errorbar(measured[mask], pred[mask], yerr=yerr[:, mask], fmt="o", ms=4, color=color,
                        ecolor=color, alpha=0.8, capsize=2, label=name)
    values = np.concatenate([pred, low, high, measured])
    positive = values[values > 0]
    lo, hi = (positive.min() / 1.5, positive.max() * 1.5) if len(positive) else (0.1, 10.0)
    _identity_line(ax, lo, hi)
    if np.all(values > 0):
        ax.set(xscale="log", yscale="log")
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel=f"measured ({unit})", ylabel=f"predicted ({unit})",
           title=f"{title}\ncoverage {100 * hit.mean():.0f}%, MAPE {metrics.mape(pred, measured):.0f}%, "
                 f"Spearman {metrics.spearman(pred, measured):.2f}")
    ax.legend()
    return _save(fig, path)


def bar_comparison(values: dict[str, float], path, noise_floor: dict[str, float] | None = None,
                   errors: dict[str, tuple[float, float]] | None = None,
                   noise_errors: dict[str, tuple[float, float]] | None = None,
                   labels: tuple[str, str] = ("world model vs reference", "reference vs reference (noise floor)"),
                   title: str = "Distances to reference MD") -> Path:
    """One small panel per scalar metric (its name should carry the unit): the world-model value
    beside the noise floor (the same metric between two independent reference runs), with optional
    (low, high) error bars. A world model is as good as the data can tell when its bar is no taller."""
    names = list(values)
    nrows = -(-len(names) // 4)
    ncols = -(-len(names) // nrows)
    fig = Figure(figsize=(max(6.0, 2.3 * ncols + 0.5), 3.0 * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, name in zip(axes, names):
        for x, (table, errs, color) in enumerate(((values, errors, "tab:blue"), (noise_floor, noise_errors, "0.6"))):
            if not table or name not in table:
                ax.text(x, 0.02, "n/a", transform=ax.get_xaxis_transform(), ha="center", color="0.4")
                continue
            v = table[name]
            err = None
            if errs and name in errs:
                err = np.clip([[v - errs[name][0]], [errs[name][1] - v]], 0, None)
            ax.bar(x, v, yerr=err, color=color, capsize=4, width=0.7, label=labels[x])
            top = v if err is None else v + err[1, 0]
            ax.annotate(f"{v:.3g}", (x, top), xytext=(0, 2), textcoords="offset points", ha="center",
                        va="bottom", fontsize=8)
        ax.set(title=name, xticks=[], xlim=(-0.7, 1.7))
        ax.set_ylim(0, ax.get_ylim()[1] * 1.08)
        ax.title.set_fontsize(9)
    for ax in axes[len(names):]:
        ax.set_axis_off()
    handles, texts = axes[0].get_legend_handles_labels()
    fig.legend(handles, texts, loc="outside lower center", ncols=2)
    fig.suptitle(title)
    return _save(fig, path)


def best_so_far(curves: dict[str, tuple[np.ndarray, np.ndarray]], path, xlabel: str = "cumulative cost (s)",
                ylabel: str = "objective", minimize: bool = True, optimum: float | None = None,
                title: str = "Best value found versus cost") -> Path:
    """Running best of each agent's objective (x: cost or query count, y: objective) as a step
    line over its raw queries (faint points); optional dashed line at the known optimum."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    running = np.minimum.accumulate if minimize else np.maximum.accumulate
    for i, (label, (x, y)) in enumerate(curves.items()):
        x, y = np.asarray(x, float), np.asarray(y, float)
        ax.scatter(x, y, s=10, alpha=0.25, color=f"C{i}", label="individual queries" if i == 0 else None)
        ax.step(x, running(y), where="post", lw=2, color=f"C{i}", label=label)
    if optimum is not None:
        ax.axhline(optimum, color="black", ls="--", lw=1, label="known optimum")
    ax.set(title=title + (" (lower is better)" if minimize else " (higher is better)"), xlabel=xlabel, ylabel=ylabel)
    ax.legend()
    return _save(fig, path)
