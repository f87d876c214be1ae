"""`sciwm demo`: the embedded default, end to end, in minutes on a laptop CPU.

1. Reference data: alanine dipeptide in implicit solvent at three temperatures (OpenMM, one
   process per core), cached in DIR/data/.
2. World model: a small equivariant ensemble (K members), energy heads, cost model (from the
   data's run records) and task distribution, in DIR/model/.
3. Campaign: find the temperature at which the alpha-R population reaches a target, by the
   world-model agent and by the two baselines (BO on reference MD alone, random search), each
   with the same budget of reference seconds, in DIR/campaigns/<strategy>/.
4. Report: DIR/campaigns/report.md with best-so-far against reference seconds for all three.
Every stage is resumable: re-running the command reuses what is done.
"""
from __future__ import annotations

import os
import sys
import time

from sciwm.agent.campaign import load_world_model_source, run_campaign
from sciwm.agent.config import config_from_dict
from sciwm.agent.reference import ReferenceSource
from sciwm.agent.report import write_report
from sciwm.bench.cache import ReferenceRun, ensure_runs
from sciwm.train.presets import TrainConfig
from sciwm.world.bundle import build

SYSTEM = "ala2-implicit"
DATA_T = (280.0, 380.0, 480.0)  # K, 1 ns each
CAMPAIGN = {
    "description": "demo: ala2 (implicit solvent) alpha-R population at a target",
    "system": SYSTEM,
    "parameters": {"temperature_K": [250, 500]},
    "objective": {"observable": "alpha_r_population", "mode": "target", "target": 0.35},
    "run": {"length_ps": 100, "save_every_ps": 1, "equilibrate_ps": 10, "discard_fraction": 0.1},
    "campaign": {"budget_seconds": 100, "rounds": 8, "batch_size": 2, "initial_points": 2, "reference_every": 3,
                 "uncertainty_threshold": 0.05, "epsilon": 0.03, "acquisition": "ei_per_cost"},
    "seed": 0,
}


def train_config():
    """A small ensemble: 3 members, 2 message-passing layers, lags 1 and 10 ps."""
    return TrainConfig(steps=400, batch_size=16, lags_ps=(1.0, 10.0), ensemble=3, head_steps=300, warmup_steps=40,
                       eval_every=100, checkpoint_every=100,
                       model={"hidden_scalars": 16, "hidden_vectors": 4, "lmax": 1, "n_layers": 2,
                              "n_neighbors": 21, "cutoff_nm": 1.5})


def run_demo(out_dir: str, log=sys.stderr) -> str:
    """Runs (or resumes) the demo in out_dir; returns the report's path."""
    times, t0 = {}, time.perf_counter()

    def stage(name: str) -> None:
        nonlocal t0
        times[name] = time.perf_counter() - t0
        print(f"[demo] {name}: {times[name]:.0f} s", file=log, flush=True)
        t0 = time.perf_counter()

    specs = [ReferenceRun(os.path.join(out_dir, "data", f"{SYSTEM}-{T:g}K.h5"), SYSTEM, f"T={T:g}K,t=1ns", seed,
                     options={"equilibrate_ps": 20.0}) for seed, T in enumerate(DATA_T)]
    print(f"[demo] 1/4 reference data: {SYSTEM} at {', '.join(f'{T:g}' for T in DATA_T)} K, 1 ns each", file=log)
    paths = ensure_runs(specs, log=log)
    stage("reference data")
    model_dir = os.path.join(out_dir, "model")
    print("[demo] 2/4 world model: 3-member equivariant ensemble, energy heads, cost model, tasks", file=log)
    build(paths, model_dir, train_config(), progress=False, log=log)
    stage("world model")
    config = config_from_dict(CAMPAIGN, "demo campaign")
    reference = ReferenceSource.from_config(config)
    world = load_world_model_source(model_dir, config)
    folders = {s: os.path.join(out_dir, "campaigns", s) for s in ("world_model", "bo_reference", "random")}
    for strategy, folder in folders.items():
        print(f"[demo] 3/4 campaign: {strategy}", file=log, flush=True)
        result = run_campaign(config, folder, reference, world if strategy == "world_model" else None,
                              strategy=strategy)
        print(f"[demo]   {result.reference_runs} reference runs ({result.spent_seconds:.1f} s), "
              f"{result.world_model_runs} world-model runs; best {result.best_values}", file=log)
        stage(f"campaign {strategy}")
    print("[demo] 4/4 report", file=log)
    report = write_report(folders, config, os.path.join(out_dir, "campaigns"))
    stage("report")
    return report
