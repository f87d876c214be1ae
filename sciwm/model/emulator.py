"""The emulator engine: the learned T-hat behind the same protocol as OpenMM and ASE.

Each saved frame is one jump of lag = save interval, sampled by the flow (midpoint ODE). Rollouts
are `lax.scan` over jumps and `vmap` over replicas, sharded over devices when several are present
(replicas split along a 'replica' mesh axis). A replica whose frame is non-finite or explodes
stops there: its later frames are never written, and the run record names it
(`blown_up_replicas`). A jump that puts interchangeable atoms (a methyl's hydrogens) in the mirror
labelling has them relabelled (flow.relabel_flipped: the same configuration). A jump that flips
another conserved chirality (which MD never does) is drawn again (every member, with fresh noise,
a few failed replicas at a time, while the member the replica follows flips); after MAX_DRAWS
draws the replica stops too (`chirality_stopped_replicas`; its last frame is intact).
Replicas are stored one after another in one file, with the per-frame array `replica`.

Ensembles: with K members (stacked parameters), every member jumps from the replica's current
frame with the same noise in one vmapped call; replica r follows member r mod K (array `member`),
and the members' disagreement is written per frame as `uncertainty` (rms over atoms of the
members' positional spread, in units of the lag's rms displacement; NaN for a single model).
Every frame is also checked (sciwm.model.validity) and the result written as `flagged` (0 = valid).
"""
from __future__ import annotations

import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import sciwm
from sciwm.engines.base import MAX_COORDINATE_NM, host_info, now_iso
from sciwm.engines.trajectory import RunRecord, SegmentRecord, State, Trajectory
from sciwm.errors import InputError, SimulationError
from sciwm.model.corrector import Corrector
from sciwm.model.flow import MAX_DRAWS, displacement_scale, permutable_pairs, redraw_flipped, sample_members
from sciwm.model.io import load_model, species_indices
from sciwm.model.validity import ValidityLimits, check_frames, describe
from sciwm.protocol import Protocol
from sciwm.systems import LearnedModel, System

CHUNK_JUMPS = 50  # jumps per compiled call (progress granularity)
# replicas per network call on a CPU: the network's per-configuration intermediates (~40 MB for
# ala2-large) stay in cache. Unsharded (XLA threads the large ops over the cores): measured 1.2 ms
# per configuration at 2 (1.3 at 4, 1.8 at 1) against 3.1 ms with all 64 in one vmap. Sharded over
# one device per core (configure_cpu): 1 is best, ala2-implicit learned only, 4 ODE steps, 4 / 16
# / 64 replicas: 185 / 179 / 167 ns/s against 158 / 152 / 163 at 2 (2-core AMD EPYC, ala2-large)
CPU_REPLICA_BATCH, CPU_REPLICA_BATCH_SHARDED = 2, 1
# ensemble disagreement (rms over atoms of the members' spread, in units of the lag's rms
# displacement) above which a frame is flagged UNCERTAIN: the members disagree by as much as a
# typical jump moves an atom
UNCERTAINTY_THRESHOLD = 1.0
OK, BLEW_UP, CHIRALITY = 0, 1, 2  # status of a jump


# XLA's CPU backend (jaxlib 0.10) hands dots, elementwise ops and reductions to YNNPACK fusions; for
# the network's small per-edge arrays its elementwise and reduction kernels are slower than XLA's own.
# Dots only: ala2-large, one evaluation on one core 1.50 -> 1.00 ms (the corrector's force unchanged;
# benchmarks/network.py). Set only under jaxlib versions where it was measured: XLA aborts the process
# on a flag it does not know.
YNN_DOTS_ONLY = "--xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_DOT"
YNN_FLAG_JAXLIB = ("0.10.",)


def configure_cpu() -> int:
    """Before the first JAX operation, on a CPU: (1) one JAX device per available core, so that
    replicas shard over the cores - XLA's CPU backend runs the emulator's small per-replica kernels
    on one core (measured on 2 cores, ala2-implicit, 1-ns jumps, 16 replicas: 1.7x the emulated ns/s
    with 1000 corrector steps, 2x with 2 ODE steps and 250); (2) YNNPACK library fusions for dots
    only (YNN_DOTS_ONLY). Each is left as the program set it (a device count in jax's config or
    XLA_FLAGS; any YNN flag), and nothing changes once JAX's backends are up. Accelerators are
    unaffected (their devices come first). Returns the number of devices."""
    try:  # no public test for "backends initialised" in jax 0.10
        from jax._src.xla_bridge import backends_are_initialized
    except ImportError:
        return jax.device_count()
    if not backends_are_initialized():
        flags = os.environ.get("XLA_FLAGS", "")
        if jax.config.jax_num_cpu_devices < 1 and "xla_force_host_platform_device_count" not in flags:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            jax.config.update("jax_num_cpu_devices", cores)
        if "ynn_fusion_type" not in flags and jax.lib.__version__.startswith(YNN_FLAG_JAXLIB):
            os.environ["XLA_FLAGS"] = f"{flags} {YNN_DOTS_ONLY}".strip()
    return jax.device_count()


def replica_mesh(replicas: int) -> Mesh | None:
    """A 'replica' mesh over every device, or None on one device or when the replicas do not split
    evenly over them."""
    devices = jax.devices()
    if len(devices) < 2 or replicas % len(devices):
        return None
    return Mesh(np.array(devices), ("replica",))


def system_from_trajectory(traj: Trajectory, model_dir: str, name: str = "emulated") -> System:
    """A System for the emulator: topology and last frame of a reference trajectory."""
    state = traj.final_state()
    return System(name=name, topology=traj.topology, positions=state.positions, box=state.box,
                  potential=LearnedModel(model_dir), engines=("emulator",), timestep_ps=1.0)


class EmulatorEngine:
    """Runs a trained model. replicas: independent rollouts from the same start (seeded apart);
    sample_steps: ODE steps per jump (default: the model's training preset); replica_batch: how
    many replicas the network evaluates at once (None: all, one vmap — right for accelerators; on
    a CPU, small batches in a loop keep the network's intermediates in cache; "auto": None on an
    accelerator; on a CPU, CPU_REPLICA_BATCH, or CPU_REPLICA_BATCH_SHARDED per device when the
    replicas shard over one device per core)."""

    name = "emulator"

    def __init__(self, model_dir: str, replicas: int = 1, sample_steps: int | None = None,
                 uncertainty_threshold: float = UNCERTAINTY_THRESHOLD, corrector: Corrector | None = None,
                 replica_batch: int | None | str = "auto"):
        if replicas < 1:
            raise InputError(f"replicas must be at least 1, got {replicas}")
        self.model_dir, self.replicas, self.corrector = model_dir, replicas, corrector
        self.net, self.params, self.saved = load_model(model_dir)
        self.config = self.saved["model"]
        self.members = jax.tree_util.tree_leaves(self.params)[0].shape[0]
        self.uncertainty_threshold = uncertainty_threshold
        self.limits = ValidityLimits.from_json(self.saved["validity"]) if "validity" in self.saved else None
        self.sample_steps = sample_steps or self.saved["train"]["sample_steps"]
        if self.sample_steps < 1:
            raise InputError(f"sample steps must be at least 1, got {self.sample_steps}")
        self._mesh = replica_mesh(replicas)
        if replica_batch == "auto":
            cpu_batch = CPU_REPLICA_BATCH if self._mesh is None else CPU_REPLICA_BATCH_SHARDED
            replica_batch = cpu_batch if jax.default_backend() == "cpu" else None
        self.replica_batch = replica_batch
        self._chunks = {}  # compiled rollouts by the interchangeable atoms of the system (relabel_flipped)

    def _chunk_for(self, pairs: tuple):
        if pairs not in self._chunks:
            self._chunks[pairs] = self._compile(self._make_chunk(np.array(pairs, np.int32).reshape(-1, 2)))
        return self._chunks[pairs]

    def _make_chunk(self, pairs: np.ndarray):
        net, n_steps, corrector, batch = self.net, self.sample_steps, self.corrector, self.replica_batch

        def per_replica(f, *args):
            """vmap of f over the replicas' axis, or a loop over batches of `batch` replicas (the
            corrector takes all replicas at once: Corrector.batch)."""
            if batch is None or args[0].shape[0] <= batch:
                return jax.vmap(f)(*args)
            return jax.lax.map(lambda a: f(*a), args, batch_size=batch)

        def chunk(params, members, x, box, keys, species, temperature, pressure, lag, n_jumps):
            rows = jnp.arange(x.shape[0])

            def draw(keys, x, box, member):
                """Every member jumps from each replica's frame with that replica's noise (their
                disagreement is the uncertainty); a replica is drawn again while the member it follows
                flips a chirality (waiting for all K members to keep theirs would stop weak ensembles)."""
                xs, boxes, kept = per_replica(lambda k, y, b: sample_members(net, params, k, species, y, b, temperature,
                                                                             pressure, lag, n_steps, pairs), keys, x, box)
                return (xs, boxes), kept[jnp.arange(x.shape[0]), member]

            def jump(carry, _):
                x, box, keys, ok = carry
                keys, sub = jax.vmap(lambda k: tuple(jax.random.split(k)))(keys)
                (xs, boxes), kept = redraw_flipped(draw, sub, x, box, members)
                # replica r follows member r mod K; the members' rms disagreement (nm) is its uncertainty
                x_new, box_new = xs[rows, members], None if box is None else boxes[rows, members]
                spread = jnp.sqrt(jnp.mean(jnp.sum(jnp.var(xs, axis=1), axis=-1), axis=-1))
                if corrector is not None:
                    x_new, box_new = corrector.batch(jax.vmap(lambda k: jax.random.fold_in(k, 1))(sub), x_new, box_new,
                                                     temperature, pressure)
                finite = (jnp.all(jnp.isfinite(x_new), axis=(1, 2))
                          & (jnp.max(jnp.abs(x_new - x.mean(1, keepdims=True)), axis=(1, 2)) < MAX_COORDINATE_NM))
                if box is not None:
                    finite &= jnp.all(jnp.isfinite(box_new) & (box_new > 0), axis=1)
                status = jnp.where(finite, jnp.where(kept, OK, CHIRALITY), BLEW_UP).astype(jnp.int8)
                ok = ok & (status == OK)
                x_next = jnp.where(ok[:, None, None], x_new, x)  # a failed replica stays put (its frames are dropped)
                box_next = None if box is None else jnp.where(ok[:, None], box_new, box)
                return (x_next, box_next, keys, ok), (x_new, box_new, status, spread)

            _, frames = jax.lax.scan(jump, (x, box, keys, jnp.ones(x.shape[0], bool)), None, length=n_jumps)
            return jax.tree_util.tree_map(lambda a: jnp.swapaxes(a, 0, 1), frames)  # (replicas, jumps, ...)

        return chunk

    def _compile(self, chunk):
        """The chunk jitted; over several devices, each runs it on its own replicas (shard_map):
        replicas are independent, so every device's program is the one-device program."""
        if self._mesh is None:
            return jax.jit(chunk, static_argnames="n_jumps")
        copy, split = PartitionSpec(), PartitionSpec("replica")
        specs = (copy, split, split, split, split, copy, copy, copy, copy)  # params, per-replica arrays, scalars

        def sharded(*args, n_jumps):
            return jax.shard_map(functools.partial(chunk, n_jumps=n_jumps), mesh=self._mesh, in_specs=specs,
                                 out_specs=split, check_vma=False)(*args)
        return jax.jit(sharded, static_argnames="n_jumps")

    def _shard(self, params, *arrays):
        """Replica arrays split over the devices, parameters replicated on each."""
        if self._mesh is None:
            return params, *arrays
        split, copy = NamedSharding(self._mesh, PartitionSpec("replica")), NamedSharding(self._mesh, PartitionSpec())
        return (jax.device_put(params, copy), *(None if a is None else jax.device_put(a, split) for a in arrays))

    def run(self, system: System, protocol: Protocol, *, save_every_ps: float, seed: int = 0,
            state: State | None = None, progress=None) -> Trajectory:
        t_start, start_time = time.perf_counter(), now_iso()
        c = self.config
        if system.periodic != c.periodic:
            raise InputError(f"the model was trained on a {'periodic' if c.periodic else 'non-periodic'} system")
        if protocol.has_pressure and not c.npt:
            raise InputError("the model was trained without pressure (NVT data): it cannot run NPT segments")
        lo, hi = min(c.lag_table_ps), max(c.lag_table_ps)
        if not (lo * 0.999 <= save_every_ps <= hi * 1.001):
            raise InputError(f"lag {save_every_ps:g} ps is outside the trained range {lo:g}-{hi:g} ps")
        jumps = []
        for seg in protocol.segments:
            n = round(seg.duration_ps / save_every_ps)
            if n < 1 or abs(n * save_every_ps - seg.duration_ps) > 1e-6 * seg.duration_ps:
                raise InputError(f"segment {seg} is not a whole number of {save_every_ps:g} ps jumps")
            jumps.append(n)
        species = jnp.asarray(species_indices([a.element.symbol for a in system.topology.atoms], c.species))
        chunk = self._chunk_for(tuple(map(tuple, permutable_pairs(c, system.topology).tolist())))
        state = state or State(system.positions, system.box)
        R = self.replicas
        x = jnp.tile(jnp.asarray(state.positions, jnp.float32)[None], (R, 1, 1))
        box = None if state.box is None else jnp.tile(jnp.asarray(np.diag(state.box), jnp.float32)[None], (R, 1))
        keys = jax.random.split(jax.random.PRNGKey(seed), R)
        members = jnp.arange(R, dtype=jnp.int32) % self.members
        params, x, box, keys, members = self._shard(self.params, x, box, keys, members)
        setup = time.perf_counter() - t_start

        out_x, out_box, out_status, out_spread, out_seg, segments = [], [], [], [], [], []
        done_ps = 0.0
        lag = jnp.float32(save_every_ps)
        jump_scale = float(displacement_scale(self.config, lag))  # uncertainty unit: rms displacement per lag
        for index, (seg, n_jumps) in enumerate(zip(protocol.segments, jumps)):
            t_seg = time.perf_counter()
            T = jnp.float32(seg.temperature_k)
            P = jnp.float32(np.nan if seg.pressure_bar is None else seg.pressure_bar)
            left = n_jumps
            while left:
                n = min(left, CHUNK_JUMPS)
                keys, sub = jax.vmap(lambda k: tuple(jax.random.split(k)))(keys)
                xs, boxes, status, spread = chunk(params, members, x, box, sub, species, T, P, lag, n_jumps=n)
                out_status.append(np.asarray(status))
                out_x.append(np.asarray(xs))
                out_box.append(None if boxes is None else np.asarray(boxes))
                out_spread.append(np.asarray(spread) / jump_scale)
                out_seg.append(np.full(n, index))
                x = xs[:, -1]
                box = None if boxes is None else boxes[:, -1]
                left -= n
                done_ps += n * save_every_ps
                if progress is not None:
                    progress(done_ps)
            segments.append(SegmentRecord(seg.temperature_k, seg.pressure_bar, seg.duration_ps, n_jumps * R,
                                          time.perf_counter() - t_seg))
        return self._assemble(system, protocol, save_every_ps, seed, out_x, out_box, out_status, out_spread, out_seg,
                              segments, setup, start_time, t_start)

    def _assemble(self, system, protocol, save_every_ps, seed, out_x, out_box, out_status, out_spread, out_seg,
                  segments, setup, start_time, t_start) -> Trajectory:
        xs = np.concatenate(out_x, axis=1)  # (R, F, n, 3)
        status = np.concatenate(out_status, axis=1)  # (R, F)
        ok = np.cumprod(status == OK, axis=1).astype(bool)  # a replica's frames up to its first failed jump
        # why each stopped replica stopped: its first failed jump
        reason = {int(r): int(status[r][np.argmax(status[r] != OK)]) for r in np.flatnonzero(~ok.all(1))}
        spread = np.concatenate(out_spread, axis=1).reshape(-1)[ok.reshape(-1)]  # per kept frame
        seg = np.concatenate(out_seg)
        boxes = None if out_box[0] is None else np.concatenate(out_box, axis=1)  # (R, F, 3)
        if not ok.any():
            n_chiral = sum(c == CHIRALITY for c in reason.values())
            if not n_chiral:
                raise SimulationError("every emulated replica blew up in its first jump "
                                      "(non-finite or exploding coordinates)")
            raise SimulationError(f"every emulated replica stopped in its first jump ({len(reason) - n_chiral} blew "
                                  f"up; {n_chiral}: no jump in {MAX_DRAWS} draws kept the stereocentres)")
        R, F = ok.shape
        time_ps = (np.arange(F) + 1) * save_every_ps
        keep = ok.reshape(-1)
        rep = np.repeat(np.arange(R), F)[keep]
        frames = seg[np.tile(np.arange(F), R)][keep]
        setpoint_t = np.array([s.temperature_k for s in protocol.segments])[frames]
        setpoint_p = np.array([np.nan if s.pressure_bar is None else s.pressure_bar for s in protocol.segments])[frames]
        positions = xs.reshape(R * F, *xs.shape[2:])[keep]
        box = None if boxes is None else np.einsum("fi,ij->fij", boxes.reshape(R * F, 3)[keep], np.eye(3))
        nan = np.full(len(rep), np.nan)
        device = jax.devices()[0]
        record = RunRecord(
            engine=self.name, engine_version=sciwm.__version__, platform=f"jax {jax.__version__} {device.platform} x{jax.device_count()}",
            precision="float32", potential=f"sciwm emulator {self.model_dir} (step {self.saved['step']})",
            integrator=f"flow matching, midpoint ODE, {self.sample_steps} steps per jump" + (
                "" if self.corrector is None else f", then {self.corrector.steps} force-field Langevin steps"),
            timestep_ps=save_every_ps,
            friction_per_ps=0.0, seed=seed, system=system.describe() | {"replicas": R},
            protocol=protocol.to_json(), save_every_ps=save_every_ps, n_atoms=system.n_atoms,
            n_dof=3 * system.n_atoms - 3, start_time=start_time, setup_seconds=setup,
            md_steps=int(sum(s.md_steps for s in segments)), segments=segments, host=host_info(),
            sciwm_version=sciwm.__version__)
        record.system["blown_up_replicas"] = [r for r, c in reason.items() if c == BLEW_UP]
        record.system["chirality_stopped_replicas"] = [r for r, c in reason.items() if c == CHIRALITY]
        record.system["ensemble_members"] = self.members
        record.system["corrector"] = None if self.corrector is None else self.corrector.describe()
        uncertainty = spread.astype(np.float32) if self.members > 1 else np.full(len(rep), np.nan, np.float32)
        flagged = np.zeros(len(rep), np.uint8)
        if self.limits is not None:
            flagged = check_frames(system.topology, positions, box, self.limits,
                                   uncertain=uncertainty > self.uncertainty_threshold)
        record.system["flagged_frames"] = describe(flagged)
        record.end_time = now_iso()
        record.wall_seconds = time.perf_counter() - t_start
        return Trajectory(topology=system.topology, time_ps=time_ps[np.tile(np.arange(F), R)[keep]],
                          positions=positions.astype(np.float32), box=box, potential_energy=nan,
                          kinetic_energy=nan.copy(), temperature=nan.copy(), setpoint_temperature=setpoint_t,
                          setpoint_pressure=setpoint_p, segment=frames.astype(np.int32), record=record,
                          extra={"replica": rep.astype(np.int32), "member": (rep % self.members).astype(np.int32),
                                 "uncertainty": uncertainty, "flagged": flagged})
