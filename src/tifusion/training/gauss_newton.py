"""A least-norm (Gauss-Newton) step for losses that are weighted sums of squared residuals (docs/method.md §5).

The EXP loss is sum_m s_m^2 (O_m - T_m)^2 over a few observables O (five elastic constants and the
pressure). A gradient step (the paper's Adam, b1 0.1, b2 0.4, moves every parameter by about the learning rate
along the sign of dL/dtheta) follows the largest weighted residual when the observables' gradients are nearly
parallel, as they are here (cosines 0.87-0.89 between those of C11, C33 and C44 for the default model at 323 K,
``bench/difftre_gradient_noise.py``), and moves the others with it, whatever their targets. The least-norm step
asks every observable to move toward its own target:

    d = -M^-1 A^T (A M^-1 A^T + ridge max eig 1)^-1 rho,   A = S J,  rho = S (O - T),

the smallest change in the metric M (Euclidean, or the DFT loss's Fisher diagonal) whose first-order effect is
A d = -rho, damped by the ridge where J J^T is ill-conditioned; J = dO/dtheta [m, params] is the DiffTRe Jacobian
(:func:`tifusion.training.difftre.make_difftre`).

Step length (:func:`gauss_newton_pseudo_gradient`): either normalised so that the step costs what an Adam step of
the same size costs (``normalize=True``; the direction is concentrated on few parameters, so a step of the Adam
step's Euclidean norm would leave the first-order regime), or the least-norm step itself times the step size,
which is then the fraction of every residual one update removes at first order (``normalize=False``): a state
point far from its targets steps farther than one near them.
"""
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree


def residual_scales(loss_of_outputs, n_outputs, dtype=jnp.float64):
    """s [m] of a loss sum_m s_m^2 (O_m - T_m)^2 + const given as a function of the outputs O [m]: sqrt(diag(H) / 2)."""
    hessian = jax.hessian(loss_of_outputs)(jnp.zeros(n_outputs, dtype=dtype))
    off_diagonal = hessian - jnp.diag(jnp.diag(hessian))
    if float(jnp.max(jnp.abs(off_diagonal))) > 1e-12 * float(jnp.max(jnp.abs(hessian))):
        raise ValueError("the loss is not a weighted sum of squares of the outputs: no Gauss-Newton step")
    return jnp.sqrt(jnp.diag(hessian) / 2)


def fisher_preconditioner(fisher):
    """The inverse metric 1 / (F + 1e-3 mean F) of a Fisher diagonal F [params] (the floor keeps parameters
    the DFT data do not constrain at all from taking the whole step)."""
    return 1.0 / (fisher + 1e-3 * jnp.mean(fisher))


def least_norm_direction(jacobian, residual, ridge, preconditioner=None):
    """d = -P J^T (J P J^T + ridge max eig(J P J^T) 1)^-1 r for a flat Jacobian [m, params] and residual [m].

    ``preconditioner`` P [params] (default 1): the diagonal of the inverse metric; d is then the step with
    J d = -r (ridge 0) of the least sum d^2 / P. With P = 1 / F, F the DFT loss's Fisher diagonal
    (:func:`tifusion.training.dft.fisher_diagonal`), the step that costs the DFT fit least.
    """
    scaled = jacobian if preconditioner is None else jacobian * preconditioner[None]
    gram = scaled @ jacobian.T
    damping = ridge * jnp.linalg.eigvalsh(gram)[-1]
    return -scaled.T @ jnp.linalg.solve(gram + damping * jnp.eye(gram.shape[0], dtype=gram.dtype), residual)


def gauss_newton_pseudo_gradient(jacobian, outputs, targets, scales, ridge, fisher=None, normalize=True):
    """A pytree like one Jacobian row whose optimizer step -lr g moves the parameters along the least-norm direction.

    ``jacobian``: pytree of the parameters' shapes with a leading axis m (dO/dtheta). Without ``fisher`` the
    direction is Euclidean, normalised to a largest component of 1, so that ``optax.scale_by_learning_rate``
    moves no parameter by more than the learning rate (as the paper's Adam, whose first step moves every
    parameter by it). With ``fisher`` (the DFT loss's Fisher diagonal, a pytree like params) the direction is the
    least-norm one in the metric F (:func:`fisher_preconditioner`), normalised to the
    F-norm of a sign vector: the step costs the DFT fit (second order, diagonal) what the Adam step of the same
    learning rate costs, lr^2 sum F / 2.

    ``normalize=False``: g is minus the (damped) least-norm step itself, so that the learning rate is the
    fraction of every residual a step removes at first order: a state point far from its targets takes a
    longer step than one near them (normalised, every update costs the same whatever its residuals, and a
    state point near its targets pulls as hard as one far from them).
    """
    rows = jax.vmap(lambda row: ravel_pytree(row)[0])(jacobian)
    _, unravel = ravel_pytree(jax.tree_util.tree_map(lambda x: x[0], jacobian))
    scaled, residual = scales[:, None] * rows, scales * (outputs - targets)
    if fisher is None:
        direction = least_norm_direction(scaled, residual, ridge)
        norm = jnp.max(jnp.abs(direction))
    else:
        f = ravel_pytree(fisher)[0].astype(scaled.dtype)
        direction = least_norm_direction(scaled, residual, ridge, fisher_preconditioner(f))
        norm = jnp.sqrt(jnp.sum(f * direction**2) / jnp.sum(f))
    return unravel((-direction / (norm if normalize else 1.0)).astype(rows.dtype))
