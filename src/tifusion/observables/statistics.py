"""Block averaging: means and standard errors of correlated time series.

The frames are cut into ``n_blocks`` contiguous blocks of equal length (the paper uses
10); when the frame count is not a multiple, the first frames are dropped (the end of a
trajectory is the better equilibrated part). Blocks much longer than the correlation
time are nearly independent, so the spread of the block results estimates the error.

- :func:`block_average`: per-frame quantities. Mean of all used frames, standard error
  std(block means, ddof=1) / sqrt(n_blocks).
- :func:`block_estimate`: any ensemble estimator, linear or not (e.g. the stress-fluctuation
  elastic constants): the estimate on all used frames and its delete-one-block jackknife
  standard error. For a mean this is the block average's error exactly. For a fluctuation
  (a covariance) it is not: the spread of estimates made *within* short blocks misses the
  fluctuations slower than a block and, on 2-4 frames per block, came out 2-5x below the true
  scatter of the estimate (AR(1) stresses, test_statistics.py), while the jackknife, which
  always keeps all but one block, stays within 10-35 % of it.
- :func:`correlated_average`: per-frame quantities whose correlation time may be comparable
  to the series (an NPT box). Standard error sqrt(var tau / n) with the integrated
  autocorrelation time tau of :func:`integrated_autocorrelation_time`, which also says whether
  the series was long enough to measure tau at all. Blocks of fixed count cannot tell: five
  blocks shorter than the correlation time give an error that is too small, silently.
"""
import jax
import numpy as np

DEFAULT_BLOCKS = 10


def _blocks(arrays, n_blocks):
    """(used frames of each array, the blocks' slices of them)."""
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise ValueError(f"all series need the same number of frames, got {[a.shape[0] for a in arrays]}")
    if n_blocks < 2 or n < n_blocks:
        raise ValueError(f"block averaging needs 2 <= n_blocks <= frames, got {n_blocks} blocks for {n} frames")
    length = n // n_blocks
    used = [a[n - n_blocks * length:] for a in arrays]
    return used, [slice(b * length, (b + 1) * length) for b in range(n_blocks)]


def block_average(x, n_blocks=DEFAULT_BLOCKS):
    """(mean, standard error) of a per-frame series ``x`` [n, ...], elementwise over trailing axes."""
    (used,), blocks = _blocks([np.asarray(x)], n_blocks)
    means = np.stack([used[block].mean(axis=0) for block in blocks])
    return used.mean(axis=0), means.std(axis=0, ddof=1) / np.sqrt(n_blocks)


def block_estimate(estimator, *series, n_blocks=DEFAULT_BLOCKS):
    """(estimate, standard error) of ``estimator(*series)`` with per-frame ``series`` [n, ...].

    ``estimator`` maps frame arrays to a pytree of results (e.g. a tuple of elastic
    constants); it is evaluated on all used frames, and on all used frames but block b for
    each b: error^2 = (n_blocks - 1) / n_blocks sum_b (estimate without b - mean over b)^2.
    """
    used, blocks = _blocks([np.asarray(s) for s in series], n_blocks)
    full = jax.tree_util.tree_map(np.asarray, estimator(*used))
    leave_one_out = [jax.tree_util.tree_map(np.asarray, estimator(*(np.delete(s, block, axis=0) for s in used)))
                     for block in blocks]
    stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *leave_one_out)
    error = jax.tree_util.tree_map(
        lambda xs: np.sqrt((n_blocks - 1) / n_blocks * np.sum((xs - xs.mean(axis=0)) ** 2, axis=0)), stacked)
    return full, error


def integrated_autocorrelation_time(x, window_factor=5.0, min_samples=50.0):
    """(tau [...], resolved [...]): integrated autocorrelation time of ``x`` [n, ...] in frames.

    tau = 1 + 2 sum_{t=1}^{M} rho(t), summed up to Sokal's self-consistent window, the first
    M >= ``window_factor`` tau(M) (Sokal 1997; emcee's ``integrated_time``). ``resolved`` is
    False unless that window exists and the series is ``min_samples`` tau long (emcee's 50): a
    shorter series underestimates tau (an AR(1) series with tau = 199 gives ~40 from 300 frames),
    so tau is then a lower bound and so is the error built from it. A constant series has tau = 1.
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    flat = x.reshape(n, -1)
    deviation = flat - flat.mean(axis=0)
    spectrum = np.fft.rfft(deviation, n=2 * n, axis=0)
    autocovariance = np.fft.irfft(spectrum * np.conj(spectrum), n=2 * n, axis=0)[:n]
    variance = autocovariance[0]
    rho = autocovariance / np.where(variance > 0, variance, 1.0)
    partial = 2.0 * np.cumsum(rho, axis=0) - 1.0                      # tau(M), M = 0 .. n-1
    inside = np.arange(n)[:, None] >= window_factor * partial
    window = np.where(inside.any(axis=0), np.argmax(inside, axis=0), n - 1)
    tau = np.clip(partial[window, np.arange(flat.shape[1])], 1.0, n)
    tau = np.where(variance > 0, tau, 1.0)
    resolved = inside.any(axis=0) & (n >= min_samples * tau)
    return tau.reshape(x.shape[1:]), resolved.reshape(x.shape[1:])


def correlated_average(x, window_factor=5.0, min_samples=50.0):
    """(mean, standard error, tau, resolved) of a per-frame series ``x`` [n, ...], elementwise.

    error = sqrt(var(x) tau / n), tau and resolved from :func:`integrated_autocorrelation_time`.
    """
    x = np.asarray(x, dtype=float)
    tau, resolved = integrated_autocorrelation_time(x, window_factor, min_samples)
    return x.mean(axis=0), np.sqrt(x.var(axis=0) * tau / x.shape[0]), tau, resolved
