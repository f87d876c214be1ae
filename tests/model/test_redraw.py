"""The batched chirality redraw: only failed replicas are drawn again, each with its own fresh key."""
import jax
import jax.numpy as jnp
import numpy as np

from sciwm.model.flow import redraw_flipped


def uniform_draw(keys, x, box):
    """A stand-in for a jump: sample u ~ U(0, 1) per replica, 'kept' when u > 0.5."""
    u = jax.vmap(lambda k: jax.random.uniform(k))(keys)
    return (x[:, 0] + u,), u > 0.5


def test_only_failed_replicas_are_drawn_again():
    R = 37  # redrawn 5 at a time
    x = jnp.arange(R, dtype=jnp.float32)[:, None] * 10.0
    keys = jax.random.split(jax.random.PRNGKey(0), R)
    (first,), kept_first = jax.jit(lambda k: uniform_draw(jax.vmap(lambda kk: jax.random.split(kk)[1])(k), x, None))(keys)
    (out,), kept = jax.jit(lambda k: redraw_flipped(uniform_draw, k, x, None))(keys)
    first, kept_first, out, kept = map(np.asarray, (first, kept_first, out, kept))
    assert 5 < (~kept_first).sum() < R  # the test exercises redraws
    np.testing.assert_array_equal(out[kept_first], first[kept_first])  # kept jumps are not drawn again
    u = out - np.asarray(x[:, 0])
    np.testing.assert_array_equal(kept, u > 0.5)  # the sample returned is the last one drawn
    assert kept.sum() >= R - 2  # P(8 failures) = 0.5^8 = 0.4% per replica (seed 0: replica 0 fails 8 times)
    assert np.all(out[~kept_first] != first[~kept_first])
    # each replica's draws come from its own key: replica r's sample stays in [10 r, 10 r + 1)
    np.testing.assert_array_less(np.asarray(x[:, 0]), out)
    np.testing.assert_array_less(out, np.asarray(x[:, 0]) + 1.0)


def test_a_replica_that_always_fails_stops_after_max_tries():
    calls = []

    def never(keys, x, box):
        calls.append(keys.shape[0])  # traced once per distinct batch size
        return (x[:, 0],), jnp.zeros(keys.shape[0], bool)

    x = jnp.zeros((3, 1))
    (_,), kept = jax.jit(lambda k: redraw_flipped(never, k, x, None, max_tries=4))(jax.random.split(jax.random.PRNGKey(1), 3))
    assert not np.asarray(kept).any()
    assert calls == [3, 1]  # the first draw is the whole batch, redraws ceil(3 / 8) = 1 at a time


def test_per_replica_arrays_follow_their_replica_into_redraws():
    """Arrays passed after the keys reach draw gathered for the replicas being drawn (the emulator
    passes each replica's member this way): here a replica keeps its jump only when its flag says so."""
    R = 20
    flag = jnp.arange(R) % 3 == 0
    seen = []

    def draw(keys, x, flag):
        seen.append(flag.shape[0])
        u = jax.vmap(lambda k: jax.random.uniform(k))(keys)
        return (x[:, 0] + u,), flag

    x = jnp.arange(R, dtype=jnp.float32)[:, None]
    (out,), kept = jax.jit(lambda k: redraw_flipped(draw, k, x, flag, max_tries=5))(jax.random.split(jax.random.PRNGKey(2), R))
    np.testing.assert_array_equal(np.asarray(kept), np.asarray(flag))
    assert seen == [R, 3]  # the whole batch once, then ceil(20 / 8) = 3 replicas at a time


def test_mirror_labelled_hydrogens_are_relabelled_a_flipped_stereocentre_is_not():
    """ala2: the methyl (and methyl-carbon) signed volumes are fixed by swapping two of the centre's
    hydrogens - the same configuration, labelled as MD's - while alanine's CA has no interchangeable
    neighbours and stays flipped (it is drawn again instead)."""
    from sciwm.model.config import ModelConfig
    from sciwm.model.flow import chirality_kept, permutable_pairs, relabel_flipped
    from sciwm.systems import get_system
    from sciwm.train.dataset import conserved_chirality

    system = get_system("ala2")
    top, x0 = system.topology, np.asarray(system.positions, np.float32)
    quads, signs = conserved_chirality(top, x0[None])
    config = ModelConfig(species=("C", "H", "N", "O"), chiral_quads=quads, chiral_signs=signs)
    pairs = permutable_pairs(config, top)
    names = {q[0]: top.atom(q[0]).name for q in quads}
    fixable = {names[q[0]]: bool(p[0] >= 0) for q, p in zip(quads, pairs)}
    assert fixable == {"CH3": True, "CA": False, "CB": True, "C": True}, fixable  # 'C': NME's methyl carbon
    for (centre, *_), (i, j) in zip(quads, pairs):
        if i >= 0:
            assert top.atom(i).element.symbol == top.atom(j).element.symbol == "H"
    relabel = jax.jit(lambda x: relabel_flipped(config, x, pairs))
    swapped = x0.copy()
    for i, j in pairs[pairs[:, 0] >= 0]:
        swapped[[i, j]] = swapped[[j, i]]
    assert not bool(chirality_kept(config, jnp.asarray(swapped)))
    np.testing.assert_array_equal(np.asarray(relabel(jnp.asarray(swapped))), x0)  # each swap undone, nothing else moved
    mirror = x0 * np.array([-1.0, 1.0, 1.0], np.float32)  # every signed volume flips, CA's too
    fixed = relabel(jnp.asarray(mirror))
    assert not bool(chirality_kept(config, fixed))
    ca = [k for k, q in enumerate(quads) if names[q[0]] == "CA"][0]
    others = [k for k in range(len(quads)) if k != ca]
    kept_each = [bool(chirality_kept(config.replace(chiral_quads=(quads[k],), chiral_signs=(signs[k],)), fixed))
                 for k in range(len(quads))]
    assert not kept_each[ca] and all(kept_each[k] for k in others)
