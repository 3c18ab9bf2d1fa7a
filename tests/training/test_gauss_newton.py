"""The least-norm (Gauss-Newton) step: residual scales, the first-order effect of the step, and its length."""
import jax.numpy as jnp
import numpy as np
import pytest

from tifusion.training.exp import make_prediction_loss
from tifusion.training.gauss_newton import gauss_newton_pseudo_gradient, least_norm_direction, residual_scales
from tifusion.units import GPA

WEIGHTS = {"stiffness": 1.0e-10, "pressure": 1.0e-9, "constants": {"C44": 5.0}}


def test_residual_scales_of_the_exp_loss_are_the_square_roots_of_its_weights():
    aux = {"targets": jnp.array([160.9, 179.5, 46.2, 92.5, 69.1]) * GPA, "target_pressure": jnp.asarray(0.0)}
    loss = make_prediction_loss(WEIGHTS)
    scales = residual_scales(lambda o: loss(o, aux), 6)
    expected = np.sqrt([1e-10 / 5, 1e-10 / 5, 5e-10 / 5, 1e-10 / 5, 1e-10 / 5, 1e-9])
    np.testing.assert_allclose(scales, expected, rtol=1e-12)


def test_residual_scales_reject_a_loss_with_cross_terms():
    with pytest.raises(ValueError, match="weighted sum of squares"):
        residual_scales(lambda o: (o[0] - o[1]) ** 2, 2)


def test_least_norm_direction_moves_every_output_to_its_target_at_first_order_with_the_smallest_step():
    rng = np.random.default_rng(0)
    jacobian = jnp.asarray(rng.normal(size=(4, 30)))
    residual = jnp.asarray(rng.normal(size=4))
    d = least_norm_direction(jacobian, residual, ridge=0.0)
    np.testing.assert_allclose(jacobian @ d, -residual, atol=1e-10)
    # every other solution d + n (n in the null space of J) is longer
    null = jnp.asarray(rng.normal(size=30))
    null = null - jacobian.T @ jnp.linalg.solve(jacobian @ jacobian.T, jacobian @ null)
    np.testing.assert_allclose(jacobian @ null, 0.0, atol=1e-10)
    assert abs(float(d @ null)) < 1e-10 * float(jnp.linalg.norm(d) * jnp.linalg.norm(null))


def test_least_norm_direction_with_more_outputs_than_parameters_is_the_damped_least_squares_step():
    rng = np.random.default_rng(1)
    jacobian = jnp.asarray(rng.normal(size=(6, 2)))
    residual = jnp.asarray(rng.normal(size=6))
    ridge = 1e-3
    d = least_norm_direction(jacobian, residual, ridge)
    damping = ridge * np.linalg.eigvalsh(np.asarray(jacobian @ jacobian.T))[-1]
    levenberg_marquardt = -np.linalg.solve(jacobian.T @ jacobian + damping * np.eye(2), jacobian.T @ residual)
    np.testing.assert_allclose(d, levenberg_marquardt, rtol=1e-8)


def test_pseudo_gradient_has_largest_component_one_and_points_against_the_least_norm_direction():
    rng = np.random.default_rng(2)
    jacobian = {"w": jnp.asarray(rng.normal(size=(3, 4, 5)), dtype=jnp.float32),
                "b": jnp.asarray(rng.normal(size=(3, 5)), dtype=jnp.float32)}
    outputs, targets = jnp.asarray(rng.normal(size=3)), jnp.zeros(3)
    scales = jnp.array([1.0, 2.0, 0.5])
    g = gauss_newton_pseudo_gradient(jacobian, outputs, targets, scales, ridge=0.0)
    assert g["w"].shape == (4, 5) and g["b"].shape == (5,) and g["w"].dtype == jnp.float32
    flat = np.concatenate([np.ravel(g["b"]), np.ravel(g["w"])])  # ravel_pytree's order: sorted keys
    np.testing.assert_allclose(np.abs(flat).max(), 1.0, rtol=1e-6)
    rows = np.concatenate([np.asarray(jacobian["b"]).reshape(3, -1), np.asarray(jacobian["w"]).reshape(3, -1)], 1)
    step = -flat  # the optimizer moves along -g
    # the scaled residuals all shrink in proportion (first order): S J step = -alpha S r with alpha > 0
    change = np.asarray(scales) * (rows @ step)
    alpha = -change / (np.asarray(scales) * np.asarray(outputs))
    np.testing.assert_allclose(alpha, alpha[0], rtol=1e-4)
    assert alpha[0] > 0


def test_preconditioned_direction_reaches_the_targets_with_the_least_weighted_norm():
    rng = np.random.default_rng(3)
    jacobian = jnp.asarray(rng.normal(size=(3, 12)))
    residual = jnp.asarray(rng.normal(size=3))
    preconditioner = jnp.asarray(rng.uniform(0.1, 10.0, size=12))
    d = least_norm_direction(jacobian, residual, ridge=0.0, preconditioner=preconditioner)
    np.testing.assert_allclose(jacobian @ d, -residual, atol=1e-10)
    # stationarity of sum d^2 / P on {J d = -r}: d / P lies in the row space of J
    coefficients, *_ = np.linalg.lstsq(np.asarray(jacobian.T), np.asarray(d / preconditioner), rcond=None)
    np.testing.assert_allclose(jacobian.T @ coefficients, d / preconditioner, atol=1e-10)
    np.testing.assert_allclose(least_norm_direction(jacobian, residual, 0.0, jnp.ones(12)),
                               least_norm_direction(jacobian, residual, 0.0), atol=1e-12)


def test_fisher_metric_pseudo_gradient_costs_what_a_sign_step_costs_along_the_f_metric_direction():
    rng = np.random.default_rng(4)
    jacobian = {"w": jnp.asarray(rng.normal(size=(3, 6)))}
    fisher = {"w": jnp.asarray(rng.uniform(0.0, 5.0, size=6))}
    outputs = jnp.asarray(rng.normal(size=3))
    g = gauss_newton_pseudo_gradient(jacobian, outputs, jnp.zeros(3), jnp.ones(3), 0.0, fisher)
    # the step -g costs the DFT fit (1/2 sum F d^2) what a sign step of the same learning rate does
    np.testing.assert_allclose(np.sum(fisher["w"] * g["w"] ** 2), np.sum(fisher["w"]), rtol=1e-8)
    f = fisher["w"]
    direction = least_norm_direction(jacobian["w"], outputs, 0.0, 1.0 / (f + 1e-3 * jnp.mean(f)))
    np.testing.assert_allclose(-g["w"] / np.linalg.norm(g["w"]), direction / np.linalg.norm(direction), atol=1e-10)


def test_unnormalized_pseudo_gradient_removes_the_learning_rate_fraction_of_every_residual():
    rng = np.random.default_rng(5)
    jacobian = {"w": jnp.asarray(rng.normal(size=(3, 8)))}
    fisher = {"w": jnp.asarray(rng.uniform(0.5, 5.0, size=8))}
    targets = jnp.asarray(rng.normal(size=3))
    for scale in (1.0, 10.0):  # a residual ten times larger takes a step ten times longer
        outputs = targets + scale * jnp.asarray([1.0, -2.0, 0.5])
        g = gauss_newton_pseudo_gradient(jacobian, outputs, targets, jnp.array([1.0, 2.0, 0.5]), 0.0, fisher,
                                         normalize=False)
        learning_rate = 0.3
        moved = outputs + jacobian["w"] @ (-learning_rate * g["w"])  # a linear model's outputs after the step
        np.testing.assert_allclose(moved - targets, (1 - learning_rate) * (outputs - targets), atol=1e-10)
