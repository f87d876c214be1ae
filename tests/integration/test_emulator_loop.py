"""Reference data -> a few training steps -> emulation -> mdtraj-readable file; resume; blow-ups;
sharded replicas."""
import dataclasses
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import mdtraj
import numpy as np
import pytest

from sciwm.cli.main import main
from sciwm.bench.cache import ReferenceRun, ensure_runs
from sciwm.data import read_trajectory, write_trajectory
from sciwm.errors import InputError, SimulationError
from sciwm.model.corrector import Corrector
from sciwm.model import flow as flow_module
from sciwm.model.emulator import YNN_DOTS_ONLY, YNN_FLAG_JAXLIB, EmulatorEngine, system_from_trajectory
from sciwm.model.graph import replicas_last
from sciwm.model.io import load_model, read_config
from sciwm.protocol import parse_protocol
from sciwm.train import trainer as trainer_module
from sciwm.train.presets import get_preset
from sciwm.train.trainer import train


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ref")
    runs = [ReferenceRun(str(folder / f"ref{seed}.h5"), "ala2", protocol, seed)
            for seed, protocol in enumerate(["T=300K,t=40ps; T=350K,t=20ps", "T=300K,t=30ps"])]
    return ensure_runs(runs, processes=1)


@pytest.fixture(scope="module")
def model_dir(reference, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("model") / "m")
    train(reference, out, get_preset("debug"), progress=False)
    return out


def test_end_to_end_cli(reference, model_dir, tmp_path, capsys):
    out = tmp_path / "emu.h5"
    assert main(["emulate", "--model", model_dir, "--start", reference[0], "--protocol", "T=300K,t=10ps; T=350K,t=6ps",
                 "--save-every", "2ps", "--replicas", "3", "--out", str(out), "--quiet"]) == 0
    md = mdtraj.load(str(out))
    assert md.n_frames == 3 * 8 and md.n_atoms == 22
    traj = read_trajectory(str(out))
    assert traj.record.engine == "emulator" and traj.record.md_steps == 24
    np.testing.assert_array_equal(np.bincount(traj.extra["replica"]), [8, 8, 8])
    assert set(traj.setpoint_temperature) == {300.0, 350.0}
    assert np.all(np.isfinite(traj.positions))
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert info["uncertainty"] is None  # one model, no ensemble: no spread to report


def test_corrector_brings_strained_frames_to_thermal_energy(reference, model_dir, tmp_path, capsys):
    """From a start frame strained by 0.02-nm noise (thousands of kJ/mol above thermal), the debug model's
    jumps stay strained (its bond projection removes only part of it); with the force-field
    corrector (100 Langevin steps of 1 fs, or 50 of 2 fs with 3-Da hydrogens and the non-bonded
    forces every 2 steps) they come back to the reference frames' energy."""
    ref = read_trajectory(reference[0])
    last = ref.select(np.arange(ref.n_frames) == ref.n_frames - 1)
    noisy = last.positions + np.random.default_rng(0).normal(0, 0.02, last.positions.shape).astype(np.float32)
    start = tmp_path / "strained.h5"
    write_trajectory(dataclasses.replace(last, positions=noisy), str(start))
    corrector = Corrector.for_model(read_config(model_dir), steps=1)
    energy = jax.jit(lambda xs: corrector.energy(*replicas_last(xs, None)))  # every bond flexible
    reference_energy = float(energy(ref.positions).mean())
    mean_energy = {}
    hmr = ["--corrector-timestep", "2fs", "--corrector-hydrogen-mass", "3"]
    for name, steps, options in (("none", 0, []), ("1fs", 100, []),
                                 ("hmr-mts", 50, [*hmr, "--corrector-nonbonded-every", "2"])):
        out = tmp_path / f"emu-{name}.h5"
        assert main(["emulate", "--model", model_dir, "--start", str(start), "--protocol", "T=300K,t=4ps",
                     "--save-every", "2ps", "--replicas", "2", "--corrector-steps", str(steps), "--out", str(out),
                     "--quiet", *options]) == 0
        traj = read_trajectory(str(out))
        assert (traj.record.system["corrector"] or {}).get("steps", 0) == steps
        mean_energy[name] = float(energy(traj.positions).mean())
    described = read_trajectory(str(tmp_path / "emu-hmr-mts.h5")).record.system["corrector"]
    assert described["hydrogen_mass"] == 3.0 and described["nonbonded_every"] == 2
    for options, message in ((["--corrector-barostat", "5"], "needs --corrector-steps"),
                             (["--corrector-steps", "10", "--corrector-barostat", "5"], "needs a periodic system"),
                             (["--corrector-nonbonded-every", "2"], "needs --corrector-steps"),
                             (["--corrector-steps", "10", "--corrector-nonbonded-every", "3"], "multiple of")):
        bad = tmp_path / "bad.h5"
        assert main(["emulate", "--model", model_dir, "--start", str(start), "--protocol", "T=300K,t=4ps",
                     "--save-every", "2ps", "--out", str(bad), "--quiet", *options]) == 2
        assert message in capsys.readouterr().err and not bad.exists()
    assert mean_energy["none"] > reference_energy + 40.0
    # flexible bonds to hydrogen add ~12 kT/2 = 15 kJ/mol over the constrained reference
    for name in ("1fs", "hmr-mts"):
        assert abs(mean_energy[name] - reference_energy - 15.0) < 10.0, name


def test_init_from_starts_from_the_models_weights(reference, model_dir, tmp_path):
    """Fine-tuning starts from the source's network and EMA weights: with a zero learning rate
    they come out unchanged; without init_from the same run starts elsewhere."""
    _, source, saved = load_model(model_dir)
    cfg = get_preset("debug", steps=4, lr=0.0, init_from=model_dir)
    train(reference, str(tmp_path / "ft"), cfg, progress=False)
    train(reference, str(tmp_path / "fresh"), dataclasses.replace(cfg, init_from=None), progress=False)
    _, tuned, tuned_saved = load_model(str(tmp_path / "ft"))
    _, fresh, _ = load_model(str(tmp_path / "fresh"))
    assert tuned_saved["model"] == saved["model"]
    for a, b in zip(*map(jax.tree_util.tree_leaves, (source, tuned))):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6, atol=1e-7)
    assert not all(np.allclose(a, c) for a, c in zip(*map(jax.tree_util.tree_leaves, (source, fresh))))
    with pytest.raises(InputError, match="not a sciwm model directory"):
        train(reference, str(tmp_path / "bad"), dataclasses.replace(cfg, init_from=str(tmp_path)), progress=False)
    assert not os.path.exists(tmp_path / "bad")


def test_resume_matches_uninterrupted_run(reference, model_dir, tmp_path, monkeypatch):
    cfg = get_preset("debug")  # model_dir: the same training, uninterrupted
    broken = str(tmp_path / "broken")
    real_step = trainer_module.Trainer.__init__

    def interrupting_init(self, *args, **kwargs):
        real_step(self, *args, **kwargs)
        step, calls = self.step, {"n": 0}

        def counted(state, batch):
            calls["n"] += 1
            if int(state["step"]) == 15:  # after the checkpoint at step 10
                raise KeyboardInterrupt
            return step(state, batch)
        self.step = counted

    monkeypatch.setattr(trainer_module.Trainer, "__init__", interrupting_init)
    with pytest.raises(KeyboardInterrupt):
        train(reference, broken, cfg, progress=False)
    monkeypatch.undo()
    history = train(reference, broken, cfg, progress=False)
    assert history["train"][-1][0] == cfg.steps
    _, p_full, _ = load_model(model_dir)
    _, p_resumed, _ = load_model(broken)
    for a, b in zip(jax.tree_util.tree_leaves(p_full), jax.tree_util.tree_leaves(p_resumed)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_other_settings_in_same_dir_are_refused(reference, model_dir):
    with pytest.raises(InputError, match="other data or settings"):
        train(reference, model_dir, get_preset("debug", steps=30), progress=False)


@pytest.mark.parametrize("members", [1, 2])
def test_step_seconds_times_a_compiled_step_and_writes_nothing(reference, tmp_path, monkeypatch, members):
    monkeypatch.chdir(tmp_path)
    seconds = trainer_module.step_seconds(reference, get_preset("debug", ensemble=members), n_steps=3)
    assert np.isfinite(seconds) and 0 < seconds < 10
    assert os.listdir(tmp_path) == []


def test_blow_ups_are_detected_and_never_written(reference, model_dir):
    engine = EmulatorEngine(model_dir, replicas=2)
    engine.params = jax.tree_util.tree_map(lambda p: p * np.nan, engine.params)
    start = read_trajectory(reference[0])
    with pytest.raises(SimulationError, match="blew up"):
        engine.run(system_from_trajectory(start, model_dir), parse_protocol("T=300K,t=4ps"), save_every_ps=1.0)


def test_chirality_stops_are_named_apart_from_blow_ups(reference, model_dir, monkeypatch):
    """A replica whose jumps never keep the stereocentres stops for that reason, not as a blow-up."""
    monkeypatch.setattr(flow_module, "chirality_kept", lambda config, x: jnp.bool_(False))
    engine = EmulatorEngine(model_dir, replicas=2)
    start = read_trajectory(reference[0])
    with pytest.raises(SimulationError, match=f"0 blew up; 2: no jump in {flow_module.MAX_DRAWS} draws kept the stereocentres"):
        engine.run(system_from_trajectory(start, model_dir), parse_protocol("T=300K,t=4ps"), save_every_ps=1.0)


def test_bad_emulation_requests(reference, model_dir):
    engine = EmulatorEngine(model_dir)
    system = system_from_trajectory(read_trajectory(reference[0]), model_dir)
    with pytest.raises(InputError, match="outside the trained range"):
        engine.run(system, parse_protocol("T=300K,t=100ps"), save_every_ps=50.0)
    with pytest.raises(InputError, match="without pressure"):
        engine.run(system, parse_protocol("T=300K,P=1bar,t=4ps"), save_every_ps=1.0)
    with pytest.raises(InputError, match="not a sciwm model"):
        EmulatorEngine(os.path.dirname(reference[0]))


def test_corrupt_checkpoint_is_a_clear_error(reference, model_dir, tmp_path):
    import shutil
    broken = tmp_path / "m"
    shutil.copytree(model_dir, broken)
    for root, _, files in os.walk(broken / "checkpoints"):
        for name in files:
            if name not in ("_CHECKPOINT_METADATA", "commit_success.txt"):
                with open(os.path.join(root, name), "wb") as f:
                    f.write(b"garbage")
    with pytest.raises(InputError, match="corrupt checkpoint"):
        load_model(str(broken))


def test_replica_batches_give_the_same_frames(reference, model_dir):
    """The network evaluated a few replicas at a time (the CPU default) or all in one vmap: same
    frames, also when the batch does not divide the replicas."""
    system = system_from_trajectory(read_trajectory(reference[0]), model_dir)
    runs = [EmulatorEngine(model_dir, replicas=5, replica_batch=b).run(system, parse_protocol("T=300K,t=3ps"),
                                                                      save_every_ps=1.0, seed=4) for b in (None, 2)]
    assert runs[0].n_frames == runs[1].n_frames == 15
    np.testing.assert_allclose(runs[0].positions, runs[1].positions, atol=1e-4)


def test_replicas_shard_over_devices(reference, model_dir, tmp_path):
    """Two forced CPU devices (two replicas each, run by shard_map) give the same frames as one device
    (this process's)."""
    script = (
        "import sys, numpy as np\n"
        "from sciwm.model.emulator import EmulatorEngine, system_from_trajectory\n"
        "from sciwm.data import read_trajectory\nfrom sciwm.protocol import parse_protocol\n"
        "import jax\n"
        f"e = EmulatorEngine({model_dir!r}, replicas=4)\n"
        f"s = system_from_trajectory(read_trajectory({reference[0]!r}), {model_dir!r})\n"
        "t = e.run(s, parse_protocol('T=300K,t=3ps'), save_every_ps=1.0, seed=3)\n"
        "np.save(sys.argv[1], t.positions); print(jax.device_count())\n")
    flags = os.environ.get("XLA_FLAGS", "")  # as this process's (configure_cpu)
    env = dict(os.environ, XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count=2")
    path = str(tmp_path / "x2.npy")
    r = subprocess.run([sys.executable, "-c", script, path], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "2"
    assert jax.device_count() == 1
    one = EmulatorEngine(model_dir, replicas=4).run(system_from_trajectory(read_trajectory(reference[0]), model_dir),
                                                    parse_protocol("T=300K,t=3ps"), save_every_ps=1.0, seed=3)
    np.testing.assert_allclose(np.load(path), one.positions, atol=1e-4)


@pytest.mark.parametrize("flags, expected", [("", None), ("--xla_force_host_platform_device_count=3", 3),
                                             ("--xla_cpu_experimental_ynn_fusion_type=", None)])
def test_configure_cpu(flags, expected):
    """Before any JAX operation: one CPU device per available core, unless the program chose a count,
    and YNNPACK fusions for dots only (where this jaxlib is known to take the flag), unless the program
    set them; afterwards nothing changes and nothing fails."""
    script = ("import os, jax\nfrom sciwm.model.emulator import configure_cpu\n"
              "n = configure_cpu()\njax.numpy.zeros(1).block_until_ready()\n"
              "print(n, configure_cpu(), len(os.sched_getaffinity(0)))\nprint(os.environ['XLA_FLAGS'])\n")
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    counts, xla_flags = r.stdout.splitlines()
    first, again, cores = map(int, counts.split())
    assert first == again == (expected or cores)
    if "ynn" in flags:
        assert xla_flags == flags
    else:
        known = jax.lib.__version__.startswith(YNN_FLAG_JAXLIB)
        assert xla_flags == (f"{flags} {YNN_DOTS_ONLY}".strip() if known else flags)
