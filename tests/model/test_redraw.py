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
