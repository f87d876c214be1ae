"""The record of one `sciwm bench` run and its two renderings: DIR/metrics.json and DIR/report.md.

`Bench` holds the output folder's layout (DIR/cache/KEY/ for cached reference runs, models and
emulations; DIR/data/ for the trajectories compared; DIR/*.png), times the stages, prints progress
on stderr, and collects comparisons, tables and figures as the system modules produce them.

A comparison is one metric between an emulated trajectory and a reference run ('reference'),
beside the same metric between two independent reference runs of equal length (the noise floor,
'reference_repeat' against 'reference'). Paths are relative to DIR, so anyone can recompute
the numbers from DIR/data/ with `sciwm.analysis` / `sciwm.bench.metrics`.
"""
from __future__ import annotations

import io
import json
import math
import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from sciwm.data.files import write_atomic, write_json_atomic, write_text_atomic

# metric name -> (target as text, test on (value, noise floor)); metrics not named have no target
TARGETS = {
    "jsd_phi_psi_2d": ("<= noise floor + 0.05", lambda v, f: v - f <= 0.05),
    "jsd_phi_1d": ("<= noise floor + 0.05", lambda v, f: v - f <= 0.05),
    "jsd_psi_1d": ("<= noise floor + 0.05", lambda v, f: v - f <= 0.05),
    "alpha_r_abs_error": ("<= 0.03", lambda v, f: v <= 0.03),
    "transition_rate_ratio": ("within 1.5x", lambda v, f: 1 / 1.5 <= v <= 1.5),
    "density_rel_error": ("<= 2%", lambda v, f: v <= 0.02),
    "rdf_mae": ("< 0.1", lambda v, f: v < 0.1),
    "interval_coverage": ("80-97%", lambda v, f: 0.80 <= v <= 0.97),
    "spearman_spread_error": (">= 0.5", lambda v, f: v >= 0.5),
    "cost_mape_percent": ("< 25%", lambda v, f: v < 25.0),
}


LABELS = {"jsd_phi_psi_2d": "JSD phi/psi 2-D", "jsd_phi_1d": "JSD phi 1-D", "jsd_psi_1d": "JSD psi 1-D",
          "rdf_mae": "RDF MAE", "density_rel_error": "density relative error",
          "alpha_r_population": "alpha-R population", "potential_energy_kj_mol": "potential energy",
          "density_g_cm3": "density", "alpha_r_abs_error": "alpha-R population, abs. error",
          "dG_alphaR_beta_abs_error": "dG alpha-R - beta, abs. error",
          "transition_rate_ratio": "core-to-core rate ratio",
          "slowest_timescale_ratio": "slowest MSM timescale ratio", "diffusion_ratio": "diffusion coefficient ratio",
          "potential_energy_per_atom_abs_error": "potential energy per atom, abs. error"}


def label(name: str) -> str:
    """Readable name of a metric or observable."""
    return LABELS.get(name, name.replace("_", " "))


def check(metric: str, value: float, floor: float | None = None) -> bool | None:
    """True / False against the metric's target; None when it has none or the value is NaN."""
    if metric not in TARGETS or value is None or not math.isfinite(value):
        return None
    return bool(TARGETS[metric][1](value, float("nan") if floor is None else floor))


def mark(metric: str, value: float, floor: float | None = None) -> str:
    ok = check(metric, value, floor)
    return "" if ok is None else ("ok" if ok else "**MISS**")


def fmt(x, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return "nan" if not math.isfinite(x) else f"{x:.{digits}g}"


@dataclass(frozen=True)
class Case:
    """One evaluation condition: set-points, where it lies relative to the training conditions
    ('train', 'held-out, inside' or 'held-out, outside' the training range), the two independent
    reference runs (a starts the emulation and gives the noise floor; b is what both are compared
    with) and the emulated trajectory (absolute paths in the cache)."""

    system: str
    temperature_K: float
    pressure_bar: float | None
    condition: str
    ref_a: str
    ref_b: str
    emulated: str

    @property
    def name(self) -> str:
        pressure = "" if self.pressure_bar is None else f"-{self.pressure_bar:g}bar"
        return f"{self.system}-{self.temperature_K:g}K{pressure}"

    @property
    def label(self) -> str:
        p = "" if self.pressure_bar is None else f", {self.pressure_bar:g} bar"
        return f"{self.temperature_K:g} K{p} ({self.condition})"

    def where(self) -> dict:
        return {"temperature_K": self.temperature_K, "pressure_bar": self.pressure_bar, "condition": self.condition}


def condition(point: tuple[float, ...], train: list[tuple[float, ...]]) -> str:
    """'train' if point is a training condition, 'held-out, inside' if every coordinate lies
    within the training range, else 'held-out, outside'."""
    if any(all(math.isclose(a, b) for a, b in zip(point, t)) for t in train):
        return "train"
    inside = all(min(t[i] for t in train) <= x <= max(t[i] for t in train) for i, x in enumerate(point))
    return "held-out, inside" if inside else "held-out, outside"


class Bench:
    """Layout, progress, stage timing and collected results of one run in out_dir.

    cache_key names the cache folder (preset name + hash of its settings): a re-run with the
    same preset reuses DIR/cache/KEY/, a changed preset gets a fresh one."""

    def __init__(self, out_dir: str, cache_key: str, quiet: bool = False, log=sys.stderr):
        self.out = os.path.abspath(out_dir)
        self.cache = os.path.join(self.out, "cache", cache_key)
        self.data = os.path.join(self.out, "data")
        for folder in (self.cache, self.data):
            os.makedirs(folder, exist_ok=True)
        self.quiet, self.t0 = quiet, time.perf_counter()
        self.logfile = io.StringIO() if quiet else log  # where the building blocks print their progress
        self.stages: dict[str, float] = {}
        self.comparisons: list[dict] = []
        self.sections: dict[str, dict] = {}
        self.tables: list[tuple[str, list[str], list[list], str]] = []
        self.figures: list[tuple[str, str]] = []
        self.data_sizes: dict[str, dict] = {}

    def log(self, message: str) -> None:
        if not self.quiet:
            print(f"[bench {time.perf_counter() - self.t0:6.0f} s] {message}", file=self.logfile, flush=True)

    @contextmanager
    def stage(self, name: str):
        """Time a stage (wall seconds, added up if a name repeats) with start/end progress lines."""
        self.log(f"{name} ...")
        t = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - t
            self.stages[name] = self.stages.get(name, 0.0) + seconds
            self.log(f"{name} done in {seconds:.1f} s")

    def rel(self, path: str) -> str:
        return os.path.relpath(os.path.abspath(path), self.out)

    def keep(self, path: str, name: str | None = None) -> str:
        """Copy a compared trajectory into DIR/data/ (unless an identical-size copy is there
        already); returns its path relative to DIR."""
        dest = os.path.join(self.data, name or os.path.basename(path))
        if os.path.abspath(path) != dest and (not os.path.exists(dest) or os.path.getsize(dest) != os.path.getsize(path)
                                              or os.path.getmtime(dest) < os.path.getmtime(path)):
            write_atomic(dest, lambda tmp: shutil.copyfile(path, tmp), suffix=".h5")
        return self.rel(dest)

    def compare(self, metric: str, value: float, floor: float | None, reference: str, emulated: str,
                repeat: str | None, system: str, unit: str = "", **where) -> dict:
        """Record one comparison; reference/emulated/repeat are paths relative to DIR; `where`
        holds temperature_K, pressure_bar, condition, stride, ci, ..."""
        entry = {"metric": metric, "value": _num(value), "noise_floor": _num(floor), "unit": unit,
                 "reference": reference, "emulated": emulated, "reference_repeat": repeat, "system": system,
                 **{k: _num(v) for k, v in where.items() if v is not None}}
        if metric in TARGETS:
            entry |= {"target": TARGETS[metric][0], "meets_target": check(metric, value, floor)}
        self.comparisons.append(entry)
        return entry

    def table(self, title: str, header: list[str], rows: list[list], note: str = "") -> None:
        self.tables.append((title, header, rows, note))

    def figure(self, path, caption: str) -> None:
        self.figures.append((caption, self.rel(str(path))))


def _num(x):
    """JSON-safe numbers: numpy scalars to float, NaN/inf to None; tuples/lists elementwise."""
    if isinstance(x, dict):
        return {k: _num(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_num(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, str):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def machine_info() -> dict:
    """os.uname, CPU count, processor name and load average when the report is written."""
    import platform

    from sciwm.engines.base import host_info
    u = os.uname()
    return {"uname": {"sysname": u.sysname, "nodename": u.nodename, "release": u.release, "version": u.version,
                      "machine": u.machine}, "cpu_count": os.cpu_count(), "processor": platform.processor(),
            "cpu_model": host_info()["processor"], "python": platform.python_version(),
            "load_average": list(os.getloadavg())}


def versions() -> dict:
    from importlib import metadata
    out = {}
    for name in ("sciwm", "jax", "jaxlib", "openmm", "mdtraj", "e3nn-jax", "numpy", "flax"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def write_metrics(bench: Bench, header: dict) -> str:
    """DIR/metrics.json: header (preset, machine, versions, seeds, ...), data sizes, stage
    times, per-section metrics and the comparisons list."""
    path = os.path.join(bench.out, "metrics.json")
    write_json_atomic(path, header | {"data_sizes": bench.data_sizes, "stage_seconds": bench.stages,
                                      **bench.sections, "comparisons": bench.comparisons}, default=_num)
    return path


def comparison_table(bench: Bench, system: str, title: str) -> None:
    """A table of the system's comparisons that have a noise floor, first in the report."""
    rows = [[_where(c), label(c["metric"]) + (f" ({c['unit']})" if c["unit"] else ""), c["value"], c["noise_floor"],
             c.get("target", ""), mark(c["metric"], c["value"], c["noise_floor"])]
            for c in bench.comparisons if c["system"] == system and c["noise_floor"] is not None]
    header = ["condition", "metric", "world model", "noise floor (run a vs b)", "target", "status"]
    bench.tables.insert(0, (title, header, rows, "World model and run a are both compared with reference run b; "
                                                 "**MISS** marks a number that misses the project's target."))


def _where(c: dict) -> str:
    pressure = f", {c['pressure_bar']:g} bar" if c.get("pressure_bar") is not None else ""
    return f"{c['temperature_K']:g} K{pressure} ({c['condition']})"


def speed_table(bench: Bench) -> None:
    """The speed section as a table."""
    keys = ("conditions", "reference_ns_per_s_per_process", "reference_processes", "reference_ns_per_s",
            "emulator_ns_per_s", "speedup", "emulator_first_call_s")
    rows = [[n] + [s[k] for k in keys] for n, s in bench.sections["speed"].items()]
    bench.table("Speed: simulated ns per wall-second, measured side by side in this run",
                ["system", "conditions", "OpenMM per process", "processes", "OpenMM all cores", "world model",
                 "speed-up", "first emulation s (JIT incl.)"], rows,
                "OpenMM: MD loop only, one process per core. World model: batched replicas, compiled rollout.")


def headlines(bench: Bench) -> list[str]:
    """A few lines for the top of the report: ranges of the main distances beside their noise
    floors, speed, interval coverage and cost error."""
    lines = []
    for metric in ("jsd_phi_psi_2d", "alpha_r_abs_error", "rdf_mae", "density_rel_error"):
        cs = [c for c in bench.comparisons if c["metric"] == metric and c["value"] is not None]
        floors = [c["noise_floor"] for c in cs if c["noise_floor"] is not None]
        if cs and floors:
            values, met = [c["value"] for c in cs], sum(c.get("meets_target") is True for c in cs)
            lines.append(f"- {cs[0]['system']}, {label(metric)}: world model {fmt(min(values))} to {fmt(max(values))}, "
                         f"noise floor {fmt(min(floors))} to {fmt(max(floors))}; target met in {met} of {len(cs)} "
                         "conditions")
    for name, s in bench.sections.get("speed", {}).items():
        lines.append(f"- {name}, speed: world model {fmt(s['emulator_ns_per_s'])} ns/s, OpenMM "
                     f"{fmt(s['reference_ns_per_s'])} ns/s on {s['reference_processes']} cores (x{fmt(s['speedup'])})")
    coverage, cost = bench.sections.get("uncertainty", {}), bench.sections.get("cost", {})
    lines.append(f"- uncertainty: {fmt(coverage.get('interval_coverage'))} of the nominal 90% intervals hold the "
                 "reference value (target 0.80-0.97)")
    lines.append(f"- cost model: MAPE {fmt(cost.get('cost_mape_percent'))}% over {cost.get('n_reference', 0)} "
                 f"reference runs (target < 25%); {fmt(cost.get('emulator_cost_mape_percent'))}% over the emulator's "
                 "runs (compile time included)")
    return lines


def _md_table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return lines


def write_report(bench: Bench, header: dict, intro: list[str]) -> str:
    """DIR/report.md: machine and versions, stage times, every table, then every figure."""
    m, v = header["machine"], header["versions"]
    lines = [f"# sciwm bench: preset `{header['preset']['name']}`", "", *intro, "",
             "## Machine and software", "",
             f"- machine: `{m['uname']['nodename']}`, {m['uname']['sysname']} {m['uname']['release']} "
             f"{m['uname']['machine']}, {m['cpu_count']} CPUs ({m['cpu_model'] or m['processor'] or 'unknown CPU'}); "
             f"load average at the end {', '.join(f'{x:.2f}' for x in m['load_average'])}",
             "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
             f"- seeds: {json.dumps(header['seeds'])}",
             f"- started {header['started']}, total wall time {header['total_seconds']:.0f} s", "",
             "## Stages (wall seconds)", ""]
    lines += _md_table(["stage", "seconds"], [[k, f"{s:.1f}"] for k, s in bench.stages.items()])
    lines += ["", "## Data sizes", ""]
    lines += _md_table(["item", "size"], [[k, ", ".join(f"{a}: {fmt(b)}" for a, b in d.items())]
                                           for k, d in bench.data_sizes.items()])
    for title, head, rows, note in bench.tables:
        lines += ["", f"## {title}", ""] + _md_table(head, rows) + ([""] + [note] if note else [])
    lines += ["", "## Figures", ""]
    for caption, rel in bench.figures:
        lines += [f"![{caption}]({rel})", "", f"*{caption}*", ""]
    path = os.path.join(bench.out, "report.md")
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
