"""CPU cost of the emulator's network and corrector: the tenth session's code against this one's.

    python3 benchmarks/network.py [--out results/network.json] [--repeats N]   # ~8 min here

"before" is the tenth session's code (commit 96d6e66): e3nn's tensor product then per-irrep
weights by a gather, and corrector forces as gradients of the energies. "after" is this code:
sciwm.model.message.EdgeMessage and forcefield.jax_force (written-out forces). Each runs under
XLA's default YNNPACK fusions and with dots only (sciwm.model.emulator.YNN_DOTS_ONLY, "+flag"), in
its own process pinned to one core (XLA reads its flags at start-up), all in one run. Weights are
untrained (the cost does not depend on them). Per variant: one network evaluation of one
configuration (ala2-large on alanine dipeptide, 22 atoms, the full graph; `lj` on 256 argon
atoms), 16 configurations through lax.map (the emulator's one-at-a-time batching), a training
step's loss and gradient (16 windows), and the corrector (ala2-implicit, 16 replicas x 250 steps of
1 fs, non-bonded every 2). Medians of --repeats timings; a table on stdout and the JSON file.

Then the emulator itself, before (default fusions) and after (sciwm's set-up, configure_cpu), on
both cores (one device per core, as `sciwm emulate`): ala2-implicit, 16 replicas x 10 jumps of
1 ns, learned only, with 1000 corrector steps of 1 fs and with 500 of 2 fs (3-Da hydrogens), both
with the non-bonded forces every second step, against OpenMM measured in
the same run (benchmarks/emulator.py: Reference platform, one process per core). Its model has the
ala2-large architecture after --train-steps optimiser steps on two 1.2-ns reference runs (cached
under data/network/), with the chirality check off: untrained jumps flip methyl hydrogens, and a
trained model's rare redraws are not what is measured here.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "network")
VARIANTS = {"before": ("before", False), "before+flag": ("before", True), "after": ("after", False),
            "after+flag": ("after", True)}
# the emulator part: (name, corrector steps per 1-ns jump, corrector options)
CONFIGURATIONS = (("learned_only", 0, {}), ("corrector1000_nb2", 1000, {"nonbonded_every": 2}),
                  ("corrector500_hmr2fs_nb2", 500, {"nonbonded_every": 2, "hydrogen_mass": 3.0, "timestep_ps": 0.002}))
MEASURES = ("ala2_eval_ms", "ala2_map16_ms_per_config", "ala2_train_step_ms", "lj_eval_ms", "corrector_us_per_step")


def before_interaction():
    """The tenth session's Interaction (commit 96d6e66): same parameters, e3nn's operations."""
    import e3nn_jax as e3nn
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import numpy as np

    def scale_irreps(x, weights):
        offsets = np.cumsum([0] + [m for m, _ in x.irreps])[:-1]
        dims = np.concatenate([np.repeat(np.arange(mul), ir.dim) + offset for (mul, ir), offset in zip(x.irreps, offsets)])
        return e3nn.IrrepsArray(x.irreps, x.array * weights[..., dims])

    class Interaction(nn.Module):
        irreps_str: str
        avg_neighbors: float

        @nn.compact
        def __call__(self, h, idx, sh, radial, mask):
            irreps = e3nn.Irreps(self.irreps_str)
            hj = h[idx]
            msg = e3nn.concatenate([hj, e3nn.tensor_product(hj, sh, filter_ir_out=irreps)]).regroup()
            weights = e3nn.flax.MultiLayerPerceptron((32, msg.irreps.num_irreps), act=jax.nn.silu,
                                                     output_activation=False)(radial)
            msg = scale_irreps(msg, weights * mask[..., None])
            agg = e3nn.sum(msg, axis=1) / jnp.sqrt(self.avg_neighbors)
            gate_irreps = e3nn.Irreps(f"{irreps.filter(drop=['0e', '0o']).num_irreps}x0e")
            out = e3nn.flax.Linear(irreps + gate_irreps, force_irreps_out=True)(e3nn.concatenate([h, agg]))
            out = e3nn.gate(out)
            return (e3nn.flax.Linear(irreps, force_irreps_out=True)(h) + out) / np.sqrt(2.0)

    return Interaction


def before_corrector(corrector, system):
    """The tenth session's corrector: forces as gradients of the energies (commit 96d6e66)."""
    import dataclasses

    import jax

    from sciwm.engines.openmm_engine import build_openmm_system
    from sciwm.model.forcefield import jax_energy

    omm = build_openmm_system(dataclasses.replace(system, potential=dataclasses.replace(system.potential, constraints=None)))
    # (since the thirteenth session in the corrector's replicas-last layout; the tenth session vmapped one replica)
    parts = tuple(jax.grad(lambda y, b, e=jax_energy(omm, part, batched=True): -e(y, b).sum())
                  for part in ("bonded", "nonbonded"))
    return dataclasses.replace(corrector, force=None, parts=parts if corrector.parts else None)


def timed(f, *args, n: int, repeats: int) -> float:
    """Median seconds per call over repeats of n calls (compiled first)."""
    import jax
    import numpy as np

    jax.block_until_ready(f(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            out = f(*args)
        jax.block_until_ready(out)
        times.append((time.perf_counter() - t0) / n)
    return float(np.median(times))


def worker(variant: str, repeats: int) -> dict:
    code, flag = VARIANTS[variant]
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import jax

    jax.config.update("jax_num_cpu_devices", 1)
    from sciwm.model import backbone
    from sciwm.model.emulator import YNN_DOTS_ONLY

    os.environ["XLA_FLAGS"] = YNN_DOTS_ONLY if flag else ""
    if code == "before":
        backbone.Interaction = before_interaction()
    import jax.numpy as jnp
    import numpy as np

    from sciwm.model.config import ModelConfig
    from sciwm.model.corrector import Corrector
    from sciwm.model.flow import batch_loss
    from sciwm.model.io import init_params
    from sciwm.systems import get_system
    from sciwm.train.presets import get_preset

    out = {}
    for name, system, preset in (("ala2", "ala2-implicit", "ala2-large"), ("lj", "lj", "lj")):
        s = get_system(system)
        symbols = [a.element.symbol for a in s.topology.atoms]
        species_list = sorted(set(symbols))
        config = ModelConfig(species=tuple(species_list), periodic=s.periodic, **get_preset(preset).model)
        net = backbone.VelocityNet(config)
        params = init_params(net, s.n_atoms, jax.random.PRNGKey(0))
        species = jnp.asarray([species_list.index(e) for e in symbols])
        x_t = jnp.asarray(s.positions, jnp.float32)
        box = jnp.asarray(np.diag(s.box), jnp.float32) if s.periodic else None
        x_s = x_t + 0.02 * jax.random.normal(jax.random.PRNGKey(1), x_t.shape)
        cond = backbone.conditions(jnp.float32(300.0), jnp.float32(jnp.nan), jnp.float32(1000.0), jnp.float32(0.5))
        one = jax.jit(lambda p, x: net.apply(p, x, x_t, species, box, cond, 0.1)[0])
        out[f"{name}_eval_ms"] = 1e3 * timed(one, params, x_s, n=100 if name == "ala2" else 5, repeats=repeats)
        if name != "ala2":
            continue
        xs = jnp.stack([x_s] * 16)
        many = jax.jit(lambda p, xs: jax.lax.map(lambda x: net.apply(p, x, x_t, species, None, cond, 0.1)[0], xs))
        out["ala2_map16_ms_per_config"] = 1e3 * timed(many, params, xs, n=10, repeats=repeats) / 16
        batch = {"x_t": jnp.stack([x_t] * 16), "x_1": xs, "species": species, "temperature": jnp.full(16, 300.0),
                 "pressure": jnp.full(16, jnp.nan), "lag_ps": jnp.full(16, 100.0)}
        grad = jax.jit(jax.value_and_grad(lambda p, key: batch_loss(net, p, key, batch)))
        out["ala2_train_step_ms"] = 1e3 * timed(grad, params, jax.random.PRNGKey(2), n=5, repeats=repeats)
    corrector = Corrector.from_system(get_system("ala2-implicit"), steps=250, nonbonded_every=2)
    if code == "before":
        corrector = before_corrector(corrector, get_system("ala2-implicit"))
    x = jnp.asarray(np.repeat(np.asarray(get_system("ala2-implicit").positions, np.float32)[None], 16, 0))
    keys = jax.random.split(jax.random.PRNGKey(0), 16)
    relax = jax.jit(lambda k, y: corrector.batch(k, y, None, jnp.float32(300.0))[0])
    out["corrector_us_per_step"] = 1e6 * timed(relax, keys, x, n=2, repeats=repeats) / (16 * 250)
    return out


def untrained_model(train_steps: int) -> str:
    """An ala2-large model directory after a few optimiser steps, chirality check off (see above)."""
    from sciwm.bench.cache import ReferenceRun, ensure_runs
    from sciwm.data.files import read_json, write_json_atomic
    from sciwm.train.presets import get_preset
    from sciwm.train.trainer import train

    model = os.path.join(DATA, f"ala2-large-{train_steps}steps")
    if not os.path.isdir(model):
        runs = ensure_runs([ReferenceRun(os.path.join(DATA, f"ala2-implicit-{seed}.h5"), "ala2-implicit",
                                         "T=300K,t=1200ps", seed) for seed in (1, 2)])
        cfg = get_preset("ala2-large", steps=train_steps, batch_size=8, eval_every=train_steps, eval_batches=1,
                         checkpoint_every=train_steps, head_steps=10)
        train(runs, model, cfg, progress=False)
        path = os.path.join(model, "config.json")
        saved = read_json(path)
        saved["model"] |= {"chiral_quads": [], "chiral_signs": []}
        write_json_atomic(path, saved)
    return model


def emulator_worker(variant: str, model: str) -> dict:
    """Emulated ns/s on every core, learned only and with the corrector (see the module docstring)."""
    import jax

    if variant == "before":
        jax.config.update("jax_num_cpu_devices", len(os.sched_getaffinity(0)))
        from sciwm.model import backbone
        backbone.Interaction = before_interaction()
    else:
        from sciwm.model.emulator import configure_cpu
        configure_cpu()
    from sciwm.data import read_trajectory
    from sciwm.model.corrector import Corrector, training_system
    from sciwm.model.emulator import EmulatorEngine, system_from_trajectory
    from sciwm.model.io import read_config
    from sciwm.protocol import parse_protocol

    start = system_from_trajectory(read_trajectory(os.path.join(DATA, "ala2-implicit-1.h5")), model)
    protocol = parse_protocol("T=300K,t=10000ps")
    out = {"devices": jax.device_count()}
    for name, steps, options in CONFIGURATIONS:
        corrector = Corrector.for_model(read_config(model), steps, **options) if steps else None
        if corrector is not None and variant == "before":
            corrector = before_corrector(corrector, training_system(read_config(model)))
        engine = EmulatorEngine(model, replicas=16, corrector=corrector)
        engine.run(start, protocol, save_every_ps=1000.0)  # compiles
        traj = engine.run(start, protocol, save_every_ps=1000.0, seed=1)
        out[f"{name}_ns_per_s"] = 16 * 10.0 / sum(seg.wall_seconds for seg in traj.record.segments)
    return out


def subprocess_json(*args: str) -> dict:
    """Run this script with args in a fresh process (its own XLA flags); its last stdout line."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    r = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env)
    if r.returncode:
        raise RuntimeError(f"{' '.join(args)} failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    print(" ".join(args), out, file=sys.stderr, flush=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(HERE, "results", "network.json"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=2, help="optimiser steps of the emulator part's model")
    parser.add_argument("--skip-emulator", action="store_true")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--emulator-worker", choices=("before", "after"), help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeats)))
        return 0
    if args.emulator_worker:
        print(json.dumps(emulator_worker(args.emulator_worker, args.model)))
        return 0
    from sciwm.data.files import write_json_atomic
    from sciwm.engines.base import host_info

    try:
        results = {v: subprocess_json("--worker", v, "--repeats", str(args.repeats)) for v in VARIANTS}
        base = results["before"]
        print(f"{'variant':<12}" + "".join(f"{m:>28}" for m in MEASURES))
        for variant, row in results.items():
            print(f"{variant:<12}" + "".join(f"{row[m]:>18.3f} ({base[m] / row[m]:4.2f}x)" for m in MEASURES))
        out = {"host": host_info(), "variants": results,
               "speedup_vs_before": {v: {m: base[m] / row[m] for m in MEASURES} for v, row in results.items()}}
        if not args.skip_emulator:
            sys.path.insert(0, HERE)
            from emulator import openmm_ns_per_second  # benchmarks/emulator.py

            model = untrained_model(args.train_steps)
            emu = {v: subprocess_json("--emulator-worker", v, "--model", model) for v in ("before", "after")}
            openmm = openmm_ns_per_second("ala2-implicit")["best"]
            print(f"\nala2-implicit, 16 replicas x 10 jumps of 1 ns; OpenMM {openmm:.3f} ns/s")
            for name, *_ in CONFIGURATIONS:
                b, a = emu["before"][f"{name}_ns_per_s"], emu["after"][f"{name}_ns_per_s"]
                print(f"{name:<24} before {b:7.1f} ns/s ({b / openmm:6.0f}x OpenMM)   after {a:7.1f} ns/s "
                      f"({a / openmm:6.0f}x OpenMM)   {a / b:4.2f}x")
            out["emulator"] = {"model": os.path.relpath(model, HERE), "openmm_ns_per_s": openmm, **emu}
    except RuntimeError as exc:
        print(f"network.py: error: {exc}", file=sys.stderr)
        return 1
    write_json_atomic(args.out, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
