"""Velocity autocorrelation and Green-Kubo self-diffusion from a velocity trajectory.

Input: velocities [frames, atoms, 3] in nm/ps, stored every ``timestep`` ps (paper: every
0.01 ps of an 80 ps NVT run). The VACF of one time origin t0 is

    C_t0(t) = (1/N) sum_i v_i(t0) . v_i(t0 + t)          (so C(0) = 3 kT / m)

averaged over ``n_origins`` origins spaced ``origin_spacing`` ps apart, starting at the first
frame (paper: 160 origins 0.5 ps apart). Every origin needs ``max_lag`` ps of frames after
it. The self-diffusion coefficient is the Green-Kubo integral

    D = (1/3) int_0^max_lag <v(0) . v(t)> dt                (trapezoidal rule)

in nm^2/ps (1 nm^2/ps = 1e-6 m^2/s: divide by ``tifusion.units.M2_PER_S`` for m^2/s).
``max_lag`` must reach the decay of the VACF (a few ps in a liquid metal).

Errors: the per-origin integrals D_t0 are block-averaged over consecutive origins with
:func:`tifusion.observables.statistics.block_average` (10 blocks by default, as the paper):
the error is std(block means) / sqrt(n_blocks). Origins much farther apart than the VACF
decay make the blocks nearly independent.
"""
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tifusion.md.steps import correlation_frames
from tifusion.observables.statistics import DEFAULT_BLOCKS, block_average
from tifusion.units import kT

PAPER_ORIGINS = 160
PAPER_ORIGIN_SPACING = 0.5  # ps


class VACF(NamedTuple):
    time: np.ndarray  # [L] lag times, ps
    vacf: np.ndarray  # [L] <v(0) . v(t)>, nm^2/ps^2
    error: np.ndarray  # [L] block standard error, nm^2/ps^2


class Diffusion(NamedTuple):
    D: float  # nm^2/ps
    error: float  # nm^2/ps, block standard error
    vacf: VACF
    per_origin: np.ndarray  # [n_origins] (1/3) int C_t0(t) dt, nm^2/ps


@partial(jax.jit, static_argnames=("n_lags", "chunk_size"))
def vacf_per_origin(velocities, origins, n_lags, chunk_size=16):
    """C_t0(t) [n_origins, n_lags] for frame indices ``origins``: lags 0 .. n_lags - 1 frames."""
    n_atoms = velocities.shape[1]

    def one(origin):
        window = jax.lax.dynamic_slice_in_dim(velocities, origin, n_lags, axis=0)  # [L, N, 3]
        return jnp.einsum("tnx,nx->t", window, velocities[origin]) / n_atoms

    return jax.lax.map(one, origins, batch_size=chunk_size)


def green_kubo_diffusion(velocities, timestep, max_lag, n_origins=PAPER_ORIGINS,
                         origin_spacing=PAPER_ORIGIN_SPACING, n_blocks=DEFAULT_BLOCKS):
    """Self-diffusion coefficient with its block error, and the origin-averaged VACF.

    ``timestep``: time between frames (ps); ``max_lag``: upper limit of the integral (ps);
    origins at 0, origin_spacing, ..., (n_origins - 1) origin_spacing ps.
    """
    velocities = np.asarray(velocities)
    if velocities.ndim != 3 or velocities.shape[-1] != 3:
        raise ValueError(f"velocities must have shape [frames, atoms, 3] (nm/ps), got {velocities.shape}")
    if not np.all(np.isfinite(velocities)):
        raise ValueError("velocities contain non-finite values")
    if not (np.isfinite(timestep) and timestep > 0):
        raise ValueError(f"timestep must be a positive time in ps, got {timestep}")
    lag_frames, spacing, needed = correlation_frames(max_lag, origin_spacing, n_origins, timestep)
    n_frames = len(velocities)
    if n_origins < n_blocks or needed > n_frames:
        fitting = max(0, (n_frames - lag_frames - 1) // spacing + 1)
        raise ValueError(f"{n_origins} origins {origin_spacing} ps apart with max_lag {max_lag} ps need {needed} "
                         f"frames, the trajectory has {n_frames} ({fitting} origins fit); n_origins must also be "
                         f">= n_blocks = {n_blocks}")
    origins = jnp.arange(n_origins) * spacing
    correlation = np.asarray(vacf_per_origin(jnp.asarray(velocities), origins, lag_frames + 1))
    time = np.arange(lag_frames + 1) * timestep
    per_origin = np.trapezoid(correlation, time, axis=1) / 3
    d, d_error = block_average(per_origin, n_blocks)
    mean, error = block_average(correlation, n_blocks)
    return Diffusion(float(d), float(d_error), VACF(time, mean, error), per_origin)


def arrhenius_fit(temperature_K, diffusion):
    """Least-squares line ln D = ln D0 - E_a / (k_B T) through (T, D) points: returns (D0, E_a), D0 in the units
    of ``diffusion`` and E_a in kJ/mol (the activation energy per mole)."""
    temperature_K, diffusion = np.asarray(temperature_K, float), np.asarray(diffusion, float)
    if temperature_K.size < 2 or np.any(diffusion <= 0):
        raise ValueError(f"an Arrhenius fit needs two or more positive D, got {diffusion}")
    slope, intercept = np.polyfit(1.0 / kT(temperature_K), np.log(diffusion), 1)
    return float(np.exp(intercept)), float(-slope)
