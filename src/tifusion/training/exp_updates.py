"""The EXP trainer's update rules: one ``init``/``step`` pair per method, in one place.

A rule turns a state point's DiffTRe outputs O = (C11, C33, C44, C12, C13, P) and their Jacobian J = dO/dtheta
(:func:`tifusion.training.difftre.make_difftre`) into a parameter update (docs/method.md §5). The ``optimizer``
settings of an EXP recipe choose it:

- ``method: adam`` (the paper's): Adam (``b1``, ``b2``) on the loss gradient dL/dtheta = dL/dO . J with step
  ``learning_rate``;
- ``method: gauss_newton``: the least-norm step toward every target (:mod:`tifusion.training.gauss_newton`) in
  the Euclidean metric or the DFT loss's Fisher metric (``metric: dft_fisher``), either removing the fraction
  ``residual_fraction`` of every residual at first order, or scaled to the cost of an Adam step of size
  ``step_bound``.

Both decay their step size exponentially: by ``decay_rate`` over ``decay_steps`` updates.
:func:`needs_dft_fisher` says whether a rule needs the Fisher diagonal.
"""
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from tifusion.training.gauss_newton import gauss_newton_pseudo_gradient, residual_scales

METHODS = ("adam", "gauss_newton")
METRICS = ("euclidean", "dft_fisher")


class UpdateRule(NamedTuple):
    """init(params) -> state; step(outputs [6], jacobian, aux, state, params) -> (updates, state)."""

    init: Callable
    step: Callable


def needs_dft_fisher(optimizer):
    """True if the ``optimizer`` settings ask for the DFT loss's Fisher diagonal (the Fisher-metric Gauss-Newton)."""
    return optimizer["method"] == "gauss_newton" and optimizer.get("metric", "euclidean") == "dft_fisher"


def make_update_rule(optimizer, loss_of_predictions, dft_fisher=None):
    """The :class:`UpdateRule` of ``optimizer`` settings; ``loss_of_predictions(outputs, aux)`` is the state point's
    loss (:func:`tifusion.training.exp.make_prediction_loss`)."""
    method = optimizer["method"]
    if method not in METHODS:
        raise ValueError(f"exp optimizer method must be one of {METHODS}, got {method!r}")
    if method == "adam":
        schedule = _schedule(optimizer, optimizer["learning_rate"])
        return _adam(optax.adam(schedule, b1=optimizer["b1"], b2=optimizer["b2"]), loss_of_predictions)
    metric = optimizer.get("metric", "euclidean")
    if metric not in METRICS:
        raise ValueError(f"exp optimizer metric must be one of {METRICS}, got {metric!r}")
    if metric == "dft_fisher" and dft_fisher is None:
        raise ValueError("exp optimizer metric 'dft_fisher' needs the DFT loss's Fisher diagonal")
    if ("residual_fraction" in optimizer) == ("step_bound" in optimizer):
        raise ValueError("a gauss_newton exp optimizer needs exactly one of residual_fraction and step_bound")
    residual = "residual_fraction" in optimizer
    schedule = _schedule(optimizer, optimizer["residual_fraction" if residual else "step_bound"])
    return _gauss_newton(optax.scale_by_learning_rate(schedule), loss_of_predictions, float(optimizer.get("ridge", 1e-3)),
                         dft_fisher if metric == "dft_fisher" else None, normalize=not residual)


def _schedule(optimizer, size):
    return optax.exponential_decay(size, int(optimizer["decay_steps"]), optimizer["decay_rate"])


def _adam(optimizer, loss_of_predictions):
    @jax.jit
    def step(outputs, jacobian, aux, state, params):
        slope = jax.grad(loss_of_predictions)(outputs, aux)
        grad = jax.tree_util.tree_map(lambda j: jnp.tensordot(slope.astype(j.dtype), j, axes=1), jacobian)
        return optimizer.update(grad, state, params)

    return UpdateRule(optimizer.init, step)


def _gauss_newton(optimizer, loss_of_predictions, ridge, fisher, normalize):
    """The update is -(step size) x the pseudo-gradient of :func:`gauss_newton_pseudo_gradient`."""
    @jax.jit
    def update(outputs, jacobian, targets, scales, fisher, state, params):
        direction = gauss_newton_pseudo_gradient(jacobian, outputs, targets, scales, ridge, fisher,
                                                 normalize=normalize)
        return optimizer.update(direction, state, params)

    def step(outputs, jacobian, aux, state, params):
        scales = residual_scales(lambda o: loss_of_predictions(o, aux), len(outputs))
        targets = jnp.append(aux["targets"], aux["target_pressure"])
        return update(outputs, jacobian, targets, scales, fisher, state, params)

    return UpdateRule(optimizer.init, step)
