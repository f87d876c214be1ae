"""Campaign configs: the shipped experiments load; bad ones fail with one clear InputError before
any compute."""
import copy
import glob
import os

import pytest

from sciwm.agent.config import SYSTEM_FACTS, config_from_dict, load_config
from sciwm.errors import InputError
from sciwm.systems import BUILTIN, get_system

EXPERIMENTS = os.path.join(os.path.dirname(__file__), "..", "..", "experiments")

GOOD = {
    "system": "lj",
    "parameters": {"temperature_K": [90, 150], "pressure_bar": [1, 1000]},
    "objective": {"observable": "diffusion_nm2_ps", "mode": "maximise"},
    "constraints": [{"observable": "density_g_cm3", "target": 1.2, "tolerance": 0.02}],
    "run": {"length_ps": 10, "save_every_ps": 0.1},
    "campaign": {"budget_seconds": 100, "rounds": 3},
}


def with_change(path, value):
    data = copy.deepcopy(GOOD)
    *parents, key = path
    target = data
    for p in parents:
        target = target[p] if not isinstance(p, int) else target[p]
    if value is KeyError:
        del target[key]
    else:
        target[key] = value
    return data


def test_good_config_and_defaults():
    config = config_from_dict(GOOD)
    assert config.names == ("temperature_K", "pressure_bar") and config.engine == "openmm"
    assert config.objective.observables == ("diffusion_nm2_ps", "density_g_cm3")
    assert config.campaign.budget_seconds == 100 and config.campaign.batch_size == 1
    assert config_from_dict(GOOD).to_json() == config.to_json()


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(EXPERIMENTS, "*.yaml"))))
def test_shipped_experiments_load(path):
    config = load_config(path)
    assert config.campaign.budget_seconds > 0


@pytest.mark.parametrize("path, value, message", [
    (("objective", "observable"), "viscosity", "unknown observable 'viscosity'"),
    (("constraints", 0, "observable"), "entropy", "unknown observable 'entropy'"),
    (("parameters", "temperature_K"), [150, 150], "empty bounds"),
    (("parameters", "pressure_bar"), [10, 1], "empty bounds"),
    (("parameters", "temperature_K"), [90], r"bounds must be \[low, high\]"),
    (("parameters", "temperature_K"), KeyError, "temperature_K .* is required"),
    (("parameters", "volume_nm3"), [1, 2], "unknown key 'volume_nm3'"),
    (("campaign", "budget_seconds"), -5, "budget_seconds must be positive"),
    (("campaign", "rounds"), 0, "rounds must be at least 1"),
    (("campaign", "rounds"), 2.5, "rounds must be an integer"),
    (("campaign", "acquisition"), "pi", "acquisition must be one of"),
    (("campaign", "epsilon"), 0.01, "epsilon .* needs mode target"),
    (("system",), "argon", "unknown system 'argon'"),
    (("engine",), "gromacs", "not engine 'gromacs'"),
    (("colour",), "blue", "unknown key 'colour'"),
    (("run", "steps"), 10, "unknown key 'steps'"),
    (("run", "save_every_ps"), 5, "under 4 frames"),
    (("run", "discard_fraction"), 1.0, "discard_fraction"),
    (("objective", "mode"), "target", "mode target needs `target`"),
    (("constraints", 0, "tolerance"), 0, "tolerance must be positive"),
    (("seed",), -1, "seed must be a non-negative integer"),
])
def test_bad_configs_raise_input_error(path, value, message):
    with pytest.raises(InputError, match=message):
        config_from_dict(with_change(path, value))


def test_physics_checks():
    ala2 = {"system": "ala2", "parameters": {"temperature_K": [280, 400]},
            "objective": {"observable": "alpha_r_population", "target": 0.3}}
    assert config_from_dict(ala2).objective.mode == "target"
    with pytest.raises(InputError, match="pressure_bar needs a periodic system"):
        config_from_dict({**ala2, "parameters": {"temperature_K": [280, 400], "pressure_bar": [1, 2]}})
    with pytest.raises(InputError, match="alpha_r_population needs a dipeptide"):
        config_from_dict({**GOOD, "objective": {"observable": "alpha_r_population", "target": 0.3}})
    with pytest.raises(InputError, match="density only changes under pressure"):
        config_from_dict({**GOOD, "parameters": {"temperature_K": [90, 150]}})
    with pytest.raises(InputError, match="temperatures must be positive"):
        config_from_dict({**ala2, "parameters": {"temperature_K": [0, 400]}})


def test_file_errors(tmp_path):
    with pytest.raises(InputError, match="cannot read campaign config"):
        load_config(str(tmp_path / "missing.yaml"))
    (tmp_path / "bad.yaml").write_text("system: [lj\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_config(str(tmp_path / "bad.yaml"))
    (tmp_path / "list.yaml").write_text("- lj\n")
    with pytest.raises(InputError, match="expected a mapping"):
        load_config(str(tmp_path / "list.yaml"))


def test_system_facts_match_the_builtin_systems():
    assert set(SYSTEM_FACTS) == set(BUILTIN)
    for name, (periodic, engines, _) in SYSTEM_FACTS.items():
        system = get_system(name)
        assert (system.periodic, tuple(system.engines)) == (periodic, engines)
