"""Block averaging: means and standard errors of correlated time series.

The frames are cut into ``n_blocks`` contiguous blocks of equal length (the paper uses
10); when the frame count is not a multiple, the first frames are dropped (the end of a
trajectory is the better equilibrated part). Blocks much longer than the correlation
time are nearly independent, so the spread of the block results estimates the error.

- :func:`block_average`: per-frame quantities. Mean of all used frames, standard error
  std(block means, ddof=1) / sqrt(n_blocks).
- :func:`block_estimate`: any ensemble estimator, linear or not (e.g. the stress-fluctuation
  elastic constants): the estimate on all used frames, and std(block estimates, ddof=1) /
  sqrt(n_blocks) as its standard error.
"""
import jax
import numpy as np

DEFAULT_BLOCKS = 10


def _blocks(arrays, n_blocks):
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise ValueError(f"all series need the same number of frames, got {[a.shape[0] for a in arrays]}")
    if n_blocks < 2 or n < n_blocks:
        raise ValueError(f"block averaging needs 2 <= n_blocks <= frames, got {n_blocks} blocks for {n} frames")
    length = n // n_blocks
    start = n - n_blocks * length
    used = [a[start:] for a in arrays]
    blocks = [[a[b * length:(b + 1) * length] for a in used] for b in range(n_blocks)]
    return used, blocks


def block_average(x, n_blocks=DEFAULT_BLOCKS):
    """(mean, standard error) of a per-frame series ``x`` [n, ...], elementwise over trailing axes."""
    x = np.asarray(x)
    (used,), blocks = _blocks([x], n_blocks)
    means = np.stack([block[0].mean(axis=0) for block in blocks])
    return used.mean(axis=0), means.std(axis=0, ddof=1) / np.sqrt(n_blocks)


def block_estimate(estimator, *series, n_blocks=DEFAULT_BLOCKS):
    """(estimate, standard error) of ``estimator(*series)`` with per-frame ``series`` [n, ...].

    ``estimator`` maps frame arrays to a pytree of results (e.g. a tuple of elastic
    constants); it is evaluated on all used frames and on each block.
    """
    series = [np.asarray(s) for s in series]
    used, blocks = _blocks(series, n_blocks)
    full = jax.tree_util.tree_map(np.asarray, estimator(*used))
    per_block = [jax.tree_util.tree_map(np.asarray, estimator(*block)) for block in blocks]
    stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *per_block)
    error = jax.tree_util.tree_map(lambda xs: xs.std(axis=0, ddof=1) / np.sqrt(n_blocks), stacked)
    return full, error
