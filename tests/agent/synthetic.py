"""Cheap stand-ins for reference MD and the world model, with known answers (for agent tests).

"Reference": density_g_cm3 = 1.4 - 0.004 (T - 100) + 0.0003 P; diffusion_nm2_ps = 1e-3 (T/100)^2
/ (1 + P/1000); cost 10 + T/10 seconds. Results are small JSON files written atomically.
"World model": the same with a bias (density + 0.01, diffusion x 0.9) and a reported std.
"""
import json
import os

from sciwm.agent.config import config_from_dict
from sciwm.agent.sources import Evaluation


def truth(params):
    t, p = params["temperature_K"], params.get("pressure_bar", 0.0)
    return {"density_g_cm3": 1.4 - 0.004 * (t - 100) + 0.0003 * p,
            "diffusion_nm2_ps": 1e-3 * (t / 100) ** 2 / (1 + p / 1000)}


def cost(params):
    return 10.0 + params["temperature_K"] / 10.0


class Reference:
    def __init__(self):
        self.calls = []

    def evaluate(self, params, seed, result_path):
        self.calls.append((json.dumps(params, sort_keys=True), seed))
        ev = {"values": truth(params), "seconds": cost(params)}
        tmp = result_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(ev, f)
        os.replace(tmp, result_path)
        return self.read(result_path)

    def read(self, result_path):
        with open(result_path) as f:
            ev = json.load(f)
        return Evaluation(ev["values"], None, ev["seconds"])


class WorldModel:
    def __init__(self, std=0.005):
        self.std, self.calls, self.refits = std, 0, []

    def evaluate(self, params, seed, result_path):
        self.calls += 1
        values = truth(params)
        values = {"density_g_cm3": values["density_g_cm3"] + 0.01, "diffusion_nm2_ps": values["diffusion_nm2_ps"] * 0.9}
        return Evaluation(values, {name: self.std for name in values}, 0.01)

    def read(self, result_path):
        raise AssertionError("the synthetic world model writes no files")

    def predict_cost(self, params):
        return cost(params)

    def refit(self, paths):
        self.refits.append(list(paths))


def config(**campaign):
    """A small lj campaign: maximise diffusion with density within 0.02 of 1.2."""
    loop = {"budget_seconds": 400, "rounds": 3, "batch_size": 2, "initial_points": 2, "reference_every": 2,
            "uncertainty_threshold": 1e-4}
    loop.update(campaign)
    return config_from_dict({
        "system": "lj", "parameters": {"temperature_K": [100, 200], "pressure_bar": [0, 1000]},
        "objective": {"observable": "diffusion_nm2_ps", "mode": "maximise"},
        "constraints": [{"observable": "density_g_cm3", "target": 1.2, "tolerance": 0.02}],
        "run": {"length_ps": 2, "save_every_ps": 0.1}, "campaign": loop, "seed": 3})
