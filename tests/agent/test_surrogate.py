"""GP regression recovers known functions at held-out points; the multi-fidelity prior-mean form
uses a biased low-fidelity source; kriging-believer fantasies keep the mean and shrink the std."""
import jax.numpy as jnp
import numpy as np
import pytest

from sciwm.agent.surrogate import fantasise, fit_gp, predict


def wave(x):
    return np.sin(6 * x[:, 0]) + 0.5 * x[:, 0]


def bowl(x):  # 2-D, smooth, known: a tilted quadratic with a bump
    return (x[:, 0] - 0.3) ** 2 + 2 * (x[:, 1] - 0.6) ** 2 + 0.3 * np.sin(5 * x[:, 0])


def test_recovers_a_1d_function():
    x = np.linspace(0, 1, 12)[:, None]
    gp = fit_gp(x, wave(x), seed=0)
    held_out = np.random.default_rng(1).uniform(size=(50, 1))
    mean, std = predict(gp, held_out)
    assert np.max(np.abs(mean - wave(held_out))) < 0.1
    assert np.mean(np.abs(mean - wave(held_out)) <= 3 * std + 1e-3) > 0.9  # calibrated, not overconfident
    at_data, _ = predict(gp, x)
    assert np.max(np.abs(at_data - wave(x))) < 1e-2


def test_recovers_a_2d_function_with_noise():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(30, 2))
    y = bowl(x) + rng.normal(0, 0.01, size=30)
    gp = fit_gp(x, y, seed=0)
    held_out = rng.uniform(0.1, 0.9, size=(100, 2))
    mean, std = predict(gp, held_out)
    assert np.sqrt(np.mean((mean - bowl(held_out)) ** 2)) < 0.05
    assert np.exp(2 * float(gp.log_noise)) * float(gp.y_scale) ** 2 < 1e-3  # learned noise ~ 1e-4 variance


def test_single_point_and_known_noise():
    gp = fit_gp(np.array([[0.5]]), np.array([2.0]), noise_var=np.array([0.01]))
    mean, std = predict(gp, np.array([[0.5], [0.0]]))
    assert mean[0] == pytest.approx(2.0, abs=0.1) and np.all(np.isfinite(std)) and std[1] > std[0]


def test_prior_mean_multi_fidelity():
    """Low fidelity = truth * 0.9 + 0.2 (biased, dense); high fidelity: 5 points. The two-level GP
    beats a GP on the 5 reference points alone."""
    rng = np.random.default_rng(2)
    x_low = rng.uniform(size=(30, 2))
    low = fit_gp(x_low, 0.9 * bowl(x_low) + 0.2, noise_var=np.full(30, 1e-4), seed=0)
    x_ref = rng.uniform(size=(5, 2))
    both = fit_gp(x_ref, bowl(x_ref), prior=low, seed=0)
    alone = fit_gp(x_ref, bowl(x_ref), seed=0)
    held_out = rng.uniform(0.1, 0.9, size=(100, 2))

    def rmse(gp):
        return np.sqrt(np.mean((predict(gp, held_out)[0] - bowl(held_out)) ** 2))

    assert rmse(both) < 0.05 and rmse(both) < rmse(alone) / 2
    _, std_both = predict(both, held_out)
    _, std_low = predict(low, held_out)
    assert np.all(std_both >= std_low - 1e-9)  # variances add across levels


def test_fantasy_keeps_mean_shrinks_std():
    x = np.linspace(0, 1, 6)[:, None]
    gp = fit_gp(x, wave(x), seed=0)
    point = np.array([0.55])
    before = predict(gp, point[None])
    after = predict(fantasise(gp, point), point[None])
    assert after[0][0] == pytest.approx(before[0][0], abs=1e-6)
    assert after[1][0] < 0.5 * before[1][0]


@pytest.mark.parametrize("n, d", [(12, 1), (16, 2), (20, 2)])
def test_likelihood_gradient_matches_finite_differences(n, d):
    """The jitted gradient that the hyperparameter fit follows (tinygp's own L2Distance broke this
    at 16 and 20 points under jit)."""
    from sciwm.agent.surrogate import _nll_and_grad, _pad, _padded_size, float64

    x = np.random.default_rng(n).uniform(size=(n, d))
    y = np.sin(4 * x.sum(1))
    theta = np.array([-0.8] + [-1.5] * d + [-6.0])
    with float64():
        data = [jnp.asarray(a) for a in _pad(x, y, np.zeros(n), _padded_size(n))]
        _, grad = _nll_and_grad(jnp.asarray(theta), *data)
        step = 1e-6 * np.eye(len(theta))
        numeric = [(float(_nll_and_grad(jnp.asarray(theta + e), *data)[0])
                    - float(_nll_and_grad(jnp.asarray(theta - e), *data)[0])) / 2e-6 for e in step]
    np.testing.assert_allclose(np.asarray(grad), numeric, rtol=1e-4, atol=1e-6)
