"""Differentiable trajectory reweighting (DiffTRe; Thaler & Zavadlav 2021): outputs and their Jacobian.

A trajectory sampled with reference parameters theta_ref gives, for parameters theta, the Zwanzig weights

    w_i(theta) = softmax_i( -beta [U_theta(S_i) - U_ref(S_i)] ),   n_eff = exp(-sum w_i ln w_i)

and ensemble averages <f> = sum_i w_i f_i(theta). The outputs O_m(<f>) (elastic constants, pressure) have the
Jacobian (the softmax derivative written out; g_m = dO_m/d<f>)

    dO_m/dtheta = sum_i w_i grad(g_m . f_i) - beta sum_i w_i (g_m . f_i - <g_m . f>) grad(U_i).

Here the frame observables f_i = h(x_i) are at most quadratic in a few per-frame quantities x_i (strain
derivatives of the energy, the kinetic energy): g_m . h(x) = a_m + b_m . x + x . C_m x exactly. Then

    dO_m/dtheta = b_m . S_J + 2 C_m : S_xJ - beta [b_m . T_1 + C_m : T_2 - (b_m . <x> + C_m : <x x>) T_0]

with the weighted moments of the per-frame parameter gradients J_i = dx_i/dtheta and G_i = dU_i/dtheta

    S_J = sum w J,  S_xJ = sum w x (x) J,  T_0 = sum w G,  T_1 = sum w x G,  T_2 = sum w x (x) x G.

One pass over the frames accumulates them (memory independent of the number of frames); the m outputs share it,
and a loss's gradient is dL/dO . J. The weights must be known before that pass: uniform for a trajectory just
sampled with theta, otherwise from a pass of energies only. This is exact, and equals autodiff of
O(sum_i w_i h(x_i(theta))) through the weights and the observables (tests).
"""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tifusion.runtime import Progress


class Reweighted(NamedTuple):
    """Outputs of one state point's reweighted averages (and their Jacobian)."""

    outputs: Any  # [m]
    jacobian: Any  # pytree like params with a leading axis m, or None (values only)
    predictions: Any  # what outputs_fn returns besides the outputs
    n_eff: Any  # effective sample size
    energies: Any  # [n] U_theta of the frames (the reference for a later reuse of the trajectory)
    weights: Any  # [n] reweighting weights
    observables: Any  # per-frame f_i (leading frame axis), e.g. for block-averaged error bars


def reweighting_weights(energies, reference_energies, kT):
    """Zwanzig weights of frames sampled at the reference potential (sum to 1)."""
    return jax.nn.softmax(-(energies - reference_energies) / kT)


def effective_sample_size(weights):
    """n_eff = exp(-sum w ln w), with w clipped at 1e-10 as in the original code; equals N for uniform weights."""
    w = jnp.clip(weights, 1e-10, None)
    return jnp.exp(-jnp.sum(w * jnp.log(w)))


def _chunks(frames, size):
    """(start, number of real frames, chunk): at most ``size`` frames per chunk, all chunks of one length (one
    compiled shape per trajectory length), the last filled up with copies of the last frame."""
    n = jax.tree_util.tree_leaves(frames)[0].shape[0]
    n_chunks = -(-n // size)
    size = -(-n // n_chunks)
    for start in range(0, n, size):
        index = np.minimum(np.arange(start, start + size), n - 1)
        yield start, min(size, n - start), jax.tree_util.tree_map(lambda x: x[index], frames)


def _padded(values, size):
    """``values`` [k <= size] with zeros appended to length ``size``."""
    return jnp.concatenate([values, jnp.zeros(size - values.shape[0], values.dtype)])


def quadratic_coefficients(fn, x):
    """(b, C) with fn(y) = fn(0) + b . y + y . C y for a scalar fn at most quadratic in y [K]; checked at the rows of
    x [n, K] (a ValueError if fn is not quadratic there)."""
    b, c, exact, quadratic = _quadratic_fit(fn, x)
    _check_quadratic(exact, quadratic)
    return b, c


def _quadratic_fit(fn, x):
    """(b, C) of :func:`quadratic_coefficients`, fn at the rows of x and the quadratic form there (traceable)."""
    zero = jnp.zeros(x.shape[-1], dtype=x.dtype)
    b, c = jax.grad(fn)(zero), jax.hessian(fn)(zero) / 2
    return b, c, jax.vmap(fn)(x), fn(zero) + x @ b + jnp.einsum("nk,kl,nl->n", x, c, x)


def _check_quadratic(exact, quadratic):
    """A ValueError unless each row of ``quadratic`` [n] or [m, n] equals ``exact`` (to 1e-8 of its largest value)."""
    for e, q in zip(np.atleast_2d(exact), np.atleast_2d(quadratic)):
        if not np.allclose(q, e, rtol=1e-8, atol=1e-8 * float(np.abs(e).max())):
            raise ValueError("the frame observables are not at most quadratic in the frame quantities")


def make_difftre(values_fn, gradients_fn, energy_fn, observables_fn, outputs_fn, chunk_size=8):
    """DiffTRe outputs and Jacobian of one state point.

    - ``values_fn(params, frame) -> (U, x [K])``: the frame's energy and quantities;
    - ``gradients_fn(params, frame) -> (U, x, dU/dtheta, dx/dtheta)``: the same with their parameter gradients
      (pytrees like params; dx/dtheta with a leading axis K);
    - ``energy_fn(params, frame) -> U``: for the weights of a reused trajectory;
    - ``observables_fn(x, aux) -> pytree`` f of one frame, at most quadratic in x;
    - ``outputs_fn(averages, aux) -> (outputs [m], predictions)``.

    Returns ``evaluate(params, frames, reference_energies, kT, aux, with_jacobian=True)`` -> :class:`Reweighted`;
    ``frames`` has a leading frame axis; ``reference_energies=None`` means the frames were just sampled with
    ``params`` (uniform weights, exactly 1/N). Frames are processed at most ``chunk_size`` at a time, in chunks
    of one length.
    """
    values_chunk = jax.jit(jax.vmap(values_fn, in_axes=(None, 0)))
    energies_chunk = jax.jit(jax.vmap(energy_fn, in_axes=(None, 0)))

    @jax.jit
    def moments_chunk(params, frames, weights):
        """(S_J, S_xJ, T_0, T_1, T_2), each a pytree like params with leading axes (K,), (K, K), (), (K,), (K, K),
        summed over the chunk's frames; and each frame's (U, x)."""
        def accumulate(moments, inputs):
            frame, w = inputs
            u, x, grad_u, grad_x = gradients_fn(params, frame)
            wx = w * x.astype(jnp.float64)
            wxx = jnp.outer(wx, x.astype(jnp.float64))
            grad_u, grad_x = (jax.tree_util.tree_map(lambda g: g.astype(jnp.float64), g) for g in (grad_u, grad_x))
            terms = (jax.tree_util.tree_map(lambda g: w * g, grad_x),
                     jax.tree_util.tree_map(lambda g: jnp.tensordot(wx, g, axes=0), grad_x),
                     jax.tree_util.tree_map(lambda g: w * g, grad_u),
                     jax.tree_util.tree_map(lambda g: jnp.tensordot(wx, g, axes=0), grad_u),
                     jax.tree_util.tree_map(lambda g: jnp.tensordot(wxx, g, axes=0), grad_u))
            return jax.tree_util.tree_map(jnp.add, moments, terms), (u, x)

        k = jax.eval_shape(lambda f: values_fn(params, f)[1], jax.tree_util.tree_map(lambda a: a[0], frames)).shape[0]
        zero = tuple(jax.tree_util.tree_map(lambda p, s=shape: jnp.zeros(s + p.shape, jnp.float64), params)
                     for shape in ((k,), (k, k), (), (k,), (k, k)))
        return jax.lax.scan(accumulate, zero, (frames, weights))

    add_moments = jax.jit(lambda a, b: jax.tree_util.tree_map(jnp.add, a, b))

    @jax.jit
    def reweighted(x, energies, reference_energies, kT, aux):
        """Weights, per-frame observables, their averages, the outputs and predictions, n_eff."""
        weights = reweighting_weights(energies, reference_energies, kT)
        observables = jax.vmap(observables_fn, in_axes=(0, None))(x, aux)
        averages = jax.tree_util.tree_map(lambda f: jnp.tensordot(weights, f, axes=1), observables)
        outputs, predictions = outputs_fn(averages, aux)
        return weights, observables, averages, outputs, predictions, effective_sample_size(weights)

    @jax.jit
    def jacobian_of_outputs(moments, x, weights, averages, kT, aux):
        """dO_m/dtheta [m, ...params] from the moments (module docstring), and per output m the exact and the
        quadratic-form values of g_m . f at every frame (for the check that f is quadratic in x)."""
        outer = jax.jacrev(lambda a: outputs_fn(a, aux)[0])(averages)  # g_m = dO_m/d<f>, leading axis m
        mean_x, mean_xx = weights @ x, jnp.einsum("n,nk,nl->kl", weights, x, x)
        s_j, s_xj, t0, t1, t2 = moments

        def row(g_m):
            b, c, exact, quadratic = _quadratic_fit(
                lambda y: sum(jnp.sum(g * f) for g, f in zip(jax.tree_util.tree_leaves(g_m),
                                                            jax.tree_util.tree_leaves(observables_fn(y, aux)))), x)
            baseline = b @ mean_x + jnp.sum(c * mean_xx)
            direct = jax.tree_util.tree_map(lambda sj, sxj: jnp.tensordot(b, sj, axes=1)
                                            + 2 * jnp.tensordot(c.T, sxj, axes=2), s_j, s_xj)
            fluctuation = jax.tree_util.tree_map(lambda a0, a1, a2: jnp.tensordot(b, a1, axes=1)
                                                 + jnp.tensordot(c, a2, axes=2) - baseline * a0, t0, t1, t2)
            return jax.tree_util.tree_map(lambda d, f: d - f / kT, direct, fluctuation), exact, quadratic

        return jax.lax.map(row, outer)

    def weights_of(params, frames, reference_energies, kT, n):
        if reference_energies is None:
            return jnp.full((n,), 1.0 / n), None
        energies = jnp.concatenate([energies_chunk(params, chunk)[:count]
                                    for _, count, chunk in _chunks(frames, chunk_size)])
        return reweighting_weights(energies, reference_energies, kT), energies

    def evaluate(params, frames, reference_energies, kT, aux, with_jacobian=True):
        n = jax.tree_util.tree_leaves(frames)[0].shape[0]
        moments = None
        if with_jacobian:
            weights, _ = weights_of(params, frames, reference_energies, kT, n)
            parts, progress = [], Progress("Jacobian", n, unit="frames")
            for start, count, chunk in _chunks(frames, chunk_size):
                size = jax.tree_util.tree_leaves(chunk)[0].shape[0]
                # the fill frames have weight 0: they add exact zeros to the moments
                part, values = jax.block_until_ready(
                    moments_chunk(params, chunk, _padded(weights[start:start + count], size)))
                moments = part if moments is None else add_moments(moments, part)
                parts.append(jax.tree_util.tree_map(lambda v: v[:count], values))
                progress.done(start + count)
        else:
            parts = [jax.tree_util.tree_map(lambda v: v[:count], values_chunk(params, chunk))
                     for _, count, chunk in _chunks(frames, chunk_size)]
        energies = jnp.concatenate([p[0] for p in parts])
        x = jnp.concatenate([p[1] for p in parts]).astype(jnp.float64)
        if reference_energies is None:
            reference_energies = energies
        weights, observables, averages, outputs, predictions, n_eff = reweighted(x, energies, reference_energies,
                                                                                  kT, aux)
        result = Reweighted(outputs, None, predictions, n_eff, energies, weights, observables)
        if not with_jacobian:
            return result
        jacobian, exact, quadratic = jacobian_of_outputs(moments, x, weights, averages, kT, aux)
        _check_quadratic(exact, quadratic)
        jacobian = jax.tree_util.tree_map(lambda j, p: j.astype(p.dtype), jacobian, params)
        return result._replace(jacobian=jacobian)

    return evaluate


def reweighted_averages(frame_fn, energy_fn, params, frames, reference_energies, kT):
    """Plain (autodiff-able) reweighted averages of ``frame_fn``; the reference :func:`make_difftre` is tested
    against."""
    observables = jax.vmap(frame_fn, in_axes=(None, 0))(params, frames)
    energies = jax.vmap(energy_fn, in_axes=(None, 0))(params, frames)
    weights = reweighting_weights(energies, reference_energies, kT)
    return jax.tree_util.tree_map(lambda f: jnp.tensordot(weights, f, axes=1), observables), weights
