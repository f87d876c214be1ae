"""Checks over all systems of a `sciwm bench` run: the world model's predictive intervals
against reference runs (coverage, spread versus error) and its cost model against measured wall
times."""
from __future__ import annotations

import math
import os

import numpy as np

from sciwm.bench import figures, metrics
from sciwm.bench.report import Bench, label, mark
from sciwm.errors import InputError

LEVEL = 0.9  # nominal level of the world model's predictive intervals

def uncertainty(bench: Bench, runs: list[dict]) -> None:
    """Each emulated condition's predicted observable (mean, calibrated std, nominal 90% interval)
    against what each of its two reference runs gave."""
    from sciwm.world import observables
    items, rows = [], []
    for run in runs:
        mod, world = run["mod"], run["world"]
        for case, (a, b), emu in zip(run["cases"], run["refs"], run["emus"]):
            for obs, unit in mod.OBSERVABLES.items():
                if obs == "potential_energy_kj_mol" and world.heads is None:
                    continue
                p = world.score(obs, emu)
                low, high = p.interval(LEVEL)
                for tag, ref in (("a", a), ("b", b)):
                    items.append({"system": mod.NAME, "observable": obs, "unit": unit, "condition": case.label,
                                  "run": tag, "truth": float(np.mean(observables.per_frame(obs, ref))), "mean": p.mean,
                                  "std": p.std, "low": low, "high": high})
    summary = {}
    for key in dict.fromkeys((i["system"], i["observable"]) for i in items):
        g = [i for i in items if (i["system"], i["observable"]) == key]
        truth, mean, std = (np.array([i[k] for i in g]) for k in ("truth", "mean", "std"))
        cov = metrics.interval_coverage(truth, [i["low"] for i in g], [i["high"] for i in g])
        rho = metrics.spearman(std, np.abs(truth - mean))
        err, spread = float(np.mean(np.abs(truth - mean))), float(np.mean(std))
        summary["/".join(key)] = {"n": len(g), "interval_coverage": cov, "spearman_spread_error": rho,
                                  "mean_abs_error": err, "mean_std": spread}
        rows.append([key[0], label(key[1]), len(g), cov, mark("interval_coverage", cov), rho,
                     mark("spearman_spread_error", rho), err, spread])
        unit = g[0]["unit"]
        path = figures.spread_vs_error(std, truth - mean, os.path.join(bench.out, f"spread-{key[0]}-{key[1]}.png"),
                                       unit=unit, title=f"{key[0]}, {label(key[1])}: spread versus error")
        bench.figure(path, f"{key[0]}, {label(key[1])}: predictive std against |error| of the world model's estimate, "
                           "one point per condition and reference run")
    allcov = metrics.interval_coverage(*([i[k] for i in items] for k in ("truth", "low", "high"))) \
        if items else math.nan
    bench.sections["uncertainty"] = {"level": LEVEL, "interval_coverage": allcov, "by_observable": summary,
                                     "items": items}
    bench.table(f"Uncertainty: {100 * LEVEL:.0f}% predictive intervals against reference runs",
                ["system", "observable", "items", "coverage", "", "Spearman(std, abs error)", "", "mean abs error",
                 "mean std"], rows,
                "Items: each condition's prediction (over the emulated frames not flagged invalid) against each of its "
                f"two reference runs. Overall coverage {allcov:.2f} (target 0.80-0.97). Intervals are uncalibrated "
                "(factor 1): no held-out calibration data is set aside.")


def cost(bench: Bench, runs: list[dict]) -> None:
    """The world model's cost model against the wall seconds of this benchmark's own runs
    (evaluation reference runs and emulations; the model never saw them)."""
    from sciwm.world.cost import describe_record, read_records
    rows, skipped = [], []
    for run in runs:
        if run["world"].cost is None:
            skipped.append(f"{run['mod'].NAME}: no cost model")
            continue
        paths = [p for c in run["cases"] for p in (c.ref_a, c.ref_b, c.emulated)]
        for path, record in zip(paths, read_records(paths)):
            try:
                pred = run["world"].cost.predict(describe_record(record))
            except InputError as exc:
                skipped.append(f"{os.path.basename(path)}: {exc}")
                continue
            rows.append([run["mod"].NAME, os.path.basename(path), record.engine, record.wall_seconds, *pred])
    out = {"n": len(rows), "skipped": skipped}
    if rows:
        pred, low, high, measured = (np.array([r[i] for r in rows]) for i in (4, 5, 6, 3))
        reference = np.array([r[2] != "emulator" for r in rows])
        keys = ("system", "file", "engine", "measured_s", "predicted_s", "low_s", "high_s")
        out |= {"n_reference": int(reference.sum()),
                "cost_mape_percent": metrics.mape(pred[reference], measured[reference]) if reference.any() else None,
                "emulator_cost_mape_percent": metrics.mape(pred[~reference], measured[~reference])
                if (~reference).any() else None,
                "spearman": metrics.spearman(pred, measured),
                "interval_coverage": metrics.interval_coverage(measured, low, high),
                "runs": [dict(zip(keys, r)) for r in rows]}
        bench.figure(figures.predicted_vs_measured(pred, low, high, measured, os.path.join(bench.out, "cost.png"),
                                                   title="Cost model: predicted versus measured wall time"),
                     "Predicted (with 90% interval) against measured wall seconds of this benchmark's runs")
    bench.sections["cost"] = out
    err, emu = (math.nan if out.get(k) is None else out[k] for k in ("cost_mape_percent", "emulator_cost_mape_percent"))
    note = (f"Reference runs: MAPE {err:.0f}% {mark('cost_mape_percent', err)} (target < 25%, over "
            f"{out.get('n_reference', 0)} runs). Emulator runs: MAPE {emu:.0f}% (no target; the first emulation in a "
            "process includes compiling its rollout, which the cost model does not separate). Interval coverage "
            f"{out.get('interval_coverage', math.nan):.2f} over all runs (nominal 90%). "
            + ("Skipped: " + "; ".join(skipped) if skipped else ""))
    bench.table("Cost model: predicted versus measured seconds",
                ["system", "run", "engine", "measured", "predicted", "low", "high"], rows, note)
