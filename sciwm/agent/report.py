"""Campaign report: report.md and best_so_far.png comparing strategies on one objective.

Best-so-far curve of a campaign: after each finished reference query (in id order), the cumulative
measured reference seconds (x) and the best feasible objective so far (y: the observable itself
when maximising or minimising, |y - target| in target mode; undefined until the first feasible
point). World-model queries cost no reference seconds and do not enter the curve. Files are
written to a temporary name and renamed (never half a file); the figure uses matplotlib's
object-oriented Figure with the Agg canvas (no pyplot state).
"""
from __future__ import annotations

import json
import os

import numpy as np
from matplotlib.figure import Figure

from sciwm.agent.config import CampaignConfig
from sciwm.agent.ledger import Ledger, Query
from sciwm.agent.objective import Objective
from sciwm.data.files import write_atomic, write_text_atomic


def best_so_far(objective: Objective, rows: list[Query]) -> tuple[np.ndarray, np.ndarray]:
    """(cumulative reference seconds, best displayed objective or NaN) after each finished query."""
    spent, best, xs, ys = 0.0, np.inf, [], []
    for q in rows:
        if q.kind != "reference" or q.status not in ("done", "failed"):
            continue
        spent += q.seconds or 0.0
        if q.status == "done" and objective.feasible(q.observables):
            best = min(best, objective.loss(q.observables))
        xs.append(spent)
        ys.append(objective.display(best) if np.isfinite(best) else np.nan)
    return np.array(xs), np.array(ys)


def plot_best_so_far(curves: dict[str, tuple[np.ndarray, np.ndarray]], objective: Objective, path: str) -> None:
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    for label, (x, y) in curves.items():
        ax.step(np.concatenate([[0.0], x]), np.concatenate([[np.nan], y]), where="post", lw=2, label=label)
    unit = "|y - target|" if objective.mode == "target" else objective.observable
    better = "lower" if objective.mode != "maximise" else "higher"
    ax.set(xlabel="reference seconds spent", ylabel=f"best feasible {unit}",
           title=f"{objective.describe()} ({better} is better)")
    ax.title.set_fontsize(9)
    ax.legend()
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110), suffix=".png")


def write_report(campaigns: dict[str, str], config: CampaignConfig, out_dir: str) -> str:
    """campaigns: strategy label -> campaign folder (holding ledger.sqlite). Writes
    out_dir/report.md and out_dir/best_so_far.png; returns the report's path."""
    objective, curves, lines = config.objective, {}, []
    lines += [f"# Campaign report: {config.description or config.system}", "",
              f"Objective: {objective.describe()}. System `{config.system}`, parameters "
              + ", ".join(f"{p.name} in [{p.low:g}, {p.high:g}]" for p in config.parameters)
              + f"; budget {config.campaign.budget_seconds:g} reference seconds; seed {config.seed}.", "",
              "| strategy | rounds | reference runs | world-model runs | reference s (measured) | "
              "reference s (predicted) | best | at |", "|---|---|---|---|---|---|---|---|"]
    for label, folder in campaigns.items():
        ledger = Ledger(os.path.join(folder, "ledger.sqlite"))
        try:
            rows, last = ledger.queries(), ledger.last_round()
        finally:
            ledger.close()
        ref = [q for q in rows if q.kind == "reference"]
        curves[label] = best_so_far(objective, rows)
        done = [q for q in ref if q.status == "done" and objective.feasible(q.observables)]
        best = min(done, key=lambda q: objective.loss(q.observables), default=None)
        shown = "none feasible" if best is None else f"{objective.display(objective.loss(best.observables)):.4g}"
        at = "" if best is None else json.dumps({k: round(v, 4) for k, v in best.params.items()})
        rounds = 0 if last is None else last[0] + (last[1] == "complete")
        lines.append(f"| {label} | {rounds} | {len(ref)} | {sum(q.kind == 'world_model' for q in rows)} | "
                     f"{sum(q.seconds or 0 for q in ref if q.status in ('done', 'failed')):.1f} | "
                     f"{sum(q.predicted_seconds or 0 for q in ref):.1f} | {shown} | `{at}` |")
    plot_best_so_far(curves, objective, os.path.join(out_dir, "best_so_far.png"))
    lines += ["", "![best so far](best_so_far.png)", "",
              "Best: the feasible reference query with the lowest loss "
              + ("(|y - target|)." if objective.mode == "target" else f"({objective.observable}).")
              + " Predicted seconds come from the cost model the strategy used (the world model's, "
              "or the mean of the seconds measured so far).", ""]
    path = os.path.join(out_dir, "report.md")
    write_text_atomic(path, "\n".join(lines))
    return path
