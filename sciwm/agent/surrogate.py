"""Gaussian-process surrogates over the intervention parameters (tinygp, float64).

Inputs are the parameters scaled to the unit box [0, 1]^d; outputs are standardised (zero mean,
unit variance over the training points) for fitting and restored on prediction.
Kernel: amplitude^2 * Matern-5/2 (Euclidean distance) with one length scale per input (ARD).
Per-point noise: a known variance (e.g. the world model's reported std^2, original units^2) plus a
learned variance. Hyperparameters (log amplitude, log length scales, log noise variance) maximise
tinygp's log marginal likelihood: scipy L-BFGS-B on its jitted value and gradient, within BOUNDS
(standardised units), from the middle of the box and a few seeded random starts.

Multi-fidelity, "prior mean" form: with a low-fidelity GP `prior` fitted to world-model
predictions, the reference is modelled as
    y_ref(x) = m_low(x) + delta(x),   delta ~ GP fitted to y_ref - m_low at the reference points,
so mean = m_low + m_delta and variance = v_low + v_delta (independent levels): recursive
co-kriging (Le Gratiet & Garnier 2014) with the scale factor fixed at 1.

Training sets are padded to fixed sizes (16, 32, 64, ...) with far-away points of near-infinite
noise, so the jitted functions compile once per size, not once per new data point. Call the
jittable functions (`predict_mean_var`) inside `float64()`; `predict` does that itself.
"""
from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize
from tinygp import GaussianProcess, kernels, transforms

PAD_X = 100.0  # padding input i sits at PAD_X * (i + 1) in every dimension: far from all else
PAD_NOISE = 1e6  # and carry this noise variance (standardised units): they inform nothing
FANTASY_JITTER = 1e-6  # noise variance of a kriging-believer fantasy (standardised units)
# log-space bounds of amplitude, length scale (unit-box units) and learned noise variance
BOUNDS = {"log_amp": (np.log(0.1), np.log(10.0)), "log_scale": (np.log(0.02), np.log(5.0)),
          "log_noise": (np.log(1e-6), np.log(1.0))}


def float64():
    """Context in which the GP code runs (double precision for Cholesky factorisations)."""
    return jax.enable_x64(True)


@partial(jax.tree_util.register_dataclass,
         data_fields=["x", "y", "noise", "log_amp", "log_scale", "log_noise", "y_mean", "y_scale", "prior"],
         meta_fields=[])
@dataclasses.dataclass(frozen=True)
class GP:
    """A fitted GP. x (m, d) padded unit-box inputs; y (m,) standardised targets; noise (m,) known
    noise variance, standardised; log_amp (), log_scale (d,), log_noise () hyperparameters;
    y_mean, y_scale () restore original units; prior: the low-fidelity GP, or None."""

    x: jax.Array
    y: jax.Array
    noise: jax.Array
    log_amp: jax.Array
    log_scale: jax.Array
    log_noise: jax.Array
    y_mean: jax.Array
    y_scale: jax.Array
    prior: "GP | None" = None

    @property
    def n_points(self) -> int:
        return int(np.count_nonzero(np.asarray(self.noise) < PAD_NOISE / 2))


class _Euclidean(kernels.distance.Distance):
    """sqrt(|x1 - x2|^2 + 1e-12): Euclidean distance with a finite gradient at zero. tinygp's
    Matern default (L1) is not positive definite in d > 1, and its L2Distance (a jnp.where at
    zero) gave wrong jit-compiled gradients at 16 and 20 points here (jax 0.10.2, CPU)."""

    def distance(self, X1, X2):
        return jnp.sqrt(jnp.sum(jnp.square(X1 - X2)) + 1e-12)

    def squared_distance(self, X1, X2):
        return jnp.sum(jnp.square(X1 - X2))


_EUCLIDEAN = _Euclidean()


def _process(log_amp, log_scale, log_noise, x, noise) -> GaussianProcess:
    kernel = jnp.exp(2 * log_amp) * transforms.Linear(jnp.exp(-log_scale), kernels.Matern52(distance=_EUCLIDEAN))
    return GaussianProcess(kernel, x, diag=noise + jnp.exp(log_noise))


def _bounds(dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the (dim + 2,) hyperparameter vector (log_amp, log_scale, log_noise)."""
    keys = ["log_amp"] + ["log_scale"] * dim + ["log_noise"]
    return np.array([BOUNDS[k][0] for k in keys]), np.array([BOUNDS[k][1] for k in keys])


@jax.jit
def _nll_and_grad(theta, x, y, noise):
    """Negative log marginal likelihood and its gradient at theta = (log_amp, log_scale..., log_noise)."""
    return jax.value_and_grad(lambda t: -_process(t[0], t[1:-1], t[-1], x, noise).log_probability(y))(theta)


def _padded_size(n: int) -> int:
    size = 16
    while size < n:
        size *= 2
    return size


def _pad(x, y, noise, size):
    n, d = x.shape
    pads = PAD_X * np.repeat(np.arange(1, size - n + 1, dtype=float)[:, None], d, axis=1)
    return (np.concatenate([x, pads]), np.concatenate([y, np.zeros(size - n)]),
            np.concatenate([noise, np.full(size - n, PAD_NOISE)]))


def fit_gp(x, y, noise_var=None, prior: GP | None = None, seed: int = 0, restarts: int = 4,
           max_iterations: int = 200) -> GP:
    """Fit a GP to n >= 1 points. x (n, d) in [0, 1]; y (n,); noise_var (n,) known noise variance
    in y's units squared, or None; prior: low-fidelity GP whose mean the fit is relative to."""
    x, y = np.asarray(x, float).reshape(len(y), -1), np.asarray(y, float)
    if len(y) == 0:
        raise ValueError("fit_gp needs at least one point")
    noise_var = np.zeros(len(y)) if noise_var is None else np.asarray(noise_var, float)
    with float64():
        if prior is not None:
            y = y - np.asarray(_predict(prior, jnp.asarray(x))[0])
        y_mean = float(y.mean())
        y_scale = float(y.std())
        if not y_scale > 1e-9 * (1.0 + abs(y_mean)):  # one point, or all equal: the magnitude
            y_scale = abs(y_mean) or 1.0
        xp, yp, noise = _pad(x, (y - y_mean) / y_scale, noise_var / y_scale**2, _padded_size(len(y)))
        data = tuple(jnp.asarray(a) for a in (xp, yp, noise))

        def objective(theta):
            value, grad = _nll_and_grad(jnp.asarray(theta), *data)
            value, grad = float(value), np.asarray(grad, float)
            return (value, grad) if np.isfinite(value) and np.all(np.isfinite(grad)) else (1e10, np.zeros_like(theta))

        low, high = _bounds(x.shape[1])
        rng = np.random.default_rng(seed)
        starts = [(low + high) / 2] + [rng.uniform(low, high) for _ in range(restarts - 1)]
        fits = [minimize(objective, start, jac=True, method="L-BFGS-B", bounds=list(zip(low, high)),
                         options={"maxiter": max_iterations}) for start in starts]
        theta = min(fits, key=lambda f: f.fun).x
        return GP(*data, jnp.asarray(theta[0]), jnp.asarray(theta[1:-1]), jnp.asarray(theta[-1]),
                  jnp.asarray(y_mean), jnp.asarray(y_scale), prior)


def _level(gp: GP, xq):
    """Standardised posterior mean and variance of this level alone (no prior), at xq (n, d)."""
    cond = _process(gp.log_amp, gp.log_scale, gp.log_noise, gp.x, gp.noise).condition(gp.y, xq).gp
    return cond.loc, cond.variance


def predict_mean_var(gp: GP, xq):
    """Posterior mean and variance (original units) of the latent function at xq (n, d); jittable."""
    mean, var = _level(gp, xq)
    mean, var = gp.y_mean + gp.y_scale * mean, gp.y_scale**2 * jnp.maximum(var, 0.0)
    if gp.prior is not None:
        prior_mean, prior_var = predict_mean_var(gp.prior, xq)
        mean, var = mean + prior_mean, var + prior_var
    return mean, var


_predict = jax.jit(predict_mean_var)


def predict(gp: GP, xq) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and standard deviation (original units) at xq (n, d) in the unit box."""
    with float64():
        mean, var = _predict(gp, jnp.asarray(np.asarray(xq, float).reshape(-1, gp.x.shape[1])))
        return np.asarray(mean), np.sqrt(np.asarray(var))


_level_jit = jax.jit(_level)


def fantasise(gp: GP, x1) -> GP:
    """The GP after observing its own posterior mean at x1 (d,) without noise (kriging believer):
    means are unchanged everywhere, variances shrink to ~0 at x1 and less nearby. Hyperparameters
    are kept; the fantasy's known noise is minus the learned noise plus FANTASY_JITTER."""
    with float64():
        prior = None if gp.prior is None else fantasise(gp.prior, x1)
        x1 = np.asarray(x1, float).reshape(1, -1)
        mean = float(np.asarray(_level_jit(gp, jnp.asarray(x1))[0])[0])
        n = gp.n_points
        x, y, noise = (np.asarray(a)[:n] for a in (gp.x, gp.y, gp.noise))
        exact = FANTASY_JITTER - float(np.exp(np.asarray(gp.log_noise)))  # cancels the learned noise
        xp, yp, noisep = _pad(np.concatenate([x, x1]), np.append(y, mean), np.append(noise, exact),
                              _padded_size(n + 1))
        return dataclasses.replace(gp, x=jnp.asarray(xp), y=jnp.asarray(yp), noise=jnp.asarray(noisep), prior=prior)
