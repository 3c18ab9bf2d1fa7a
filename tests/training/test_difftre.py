import jax
import jax.numpy as jnp
import numpy as np

from tifusion.graph import build_graph
from tifusion.potential import Potential, energy
from tifusion.training.difftre import (
    effective_sample_size,
    make_reweighted_jacobian,
    make_reweighting,
    reweighted_averages,
    reweighting_weights,
)

CUTOFF = 0.6


def morse_potential():
    """A pair potential with trainable parameters (depth, stiffness, equilibrium distance)."""

    def atom_energies(params, d, graph):
        r = jnp.sqrt(jnp.sum(d**2, axis=-1) + jnp.where(graph.mask, 0.0, 1.0))
        x = jnp.exp(-params["alpha"] * (r - params["r0"]))
        pair = params["depth"] * (x**2 - 2 * x) * (1 - (r / CUTOFF) ** 2) ** 2
        return 0.5 * jnp.sum(jnp.where(graph.mask, pair, 0.0), axis=1)

    init = lambda rng: {"depth": jnp.array(40.0), "alpha": jnp.array(12.0), "r0": jnp.array(0.29)}
    return Potential("morse", CUTOFF, atom_energies, init)


def _system(n_frames=12, seed=0):
    rng = np.random.default_rng(seed)
    a = 0.41
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) * a
    cells = np.array([[i, j, k] for i in range(3) for j in range(3) for k in range(3)]) * a
    positions = (cells[:, None, :] + base[None]).reshape(-1, 3)
    box = jnp.eye(3) * 3 * a
    frames = positions[None] + rng.normal(scale=0.01, size=(n_frames,) + positions.shape)
    return jnp.asarray(frames), box


def _setup():
    potential = morse_potential()
    frames, box = _system()
    graph0 = build_graph(frames[0], box, CUTOFF, 64)

    def energy_fn(params, frame):
        graph = build_graph(frame, box, CUTOFF, 64)
        return energy(potential, params, frame, box, graph)

    def frame_fn(params, frame):
        graph = build_graph(frame, box, CUTOFF, 64)
        e, g = jax.value_and_grad(lambda r: energy(potential, params, r, box, graph))(frame)
        return {"energy": e, "force_sq": jnp.sum(g**2), "x": g[:3]}

    def loss_fn(averages, aux):
        # nonlinear in the averages, like the stiffness formula
        loss = (averages["energy"] / 100 - aux["target"]) ** 2 + 1e-8 * averages["force_sq"] ** 1.5 \
            + jnp.sum(averages["x"] ** 2) * 1e-6
        return loss, averages["energy"]

    del graph0
    return potential, frames, energy_fn, frame_fn, loss_fn


def test_weights_are_uniform_and_ess_is_n_at_reference_parameters():
    potential, frames, energy_fn, _, _ = _setup()
    params = potential.init(None)
    ref = jax.vmap(energy_fn, in_axes=(None, 0))(params, frames)
    w = reweighting_weights(ref, ref, kT=2.5)
    np.testing.assert_allclose(w, 1.0 / len(frames), rtol=1e-12)
    np.testing.assert_allclose(effective_sample_size(w), len(frames), rtol=1e-10)


def test_chunked_difftre_gradient_equals_autodiff_and_finite_differences_away_from_reference():
    potential, frames, energy_fn, frame_fn, loss_fn = _setup()
    ref_params = potential.init(None)
    ref = jax.vmap(energy_fn, in_axes=(None, 0))(ref_params, frames)
    kT = 2.5
    params = {k: v * 1.01 for k, v in ref_params.items()}  # reweighted, not at the reference
    aux = {"target": jnp.array(-5.0)}
    value_and_grad = make_reweighting(frame_fn, energy_fn, loss_fn, chunk_size=5)
    result = value_and_grad(params, frames, ref, kT, aux)
    loss, grad, ess = result.loss, result.grad, result.n_eff
    fresh = value_and_grad(params, frames, None, kT, aux)
    np.testing.assert_allclose(fresh.n_eff, len(frames), rtol=1e-12)
    np.testing.assert_allclose(fresh.weights, 1.0 / len(frames), rtol=1e-12)
    assert ess < len(frames)

    def direct(p):
        averages, _ = reweighted_averages(frame_fn, energy_fn, p, frames, ref, kT)
        return loss_fn(averages, aux)[0]

    np.testing.assert_allclose(loss, direct(params), rtol=1e-10)
    auto = jax.grad(direct)(params)
    for key in params:
        np.testing.assert_allclose(grad[key], auto[key], rtol=1e-7, err_msg=key)
        h = 1e-5 * abs(float(params[key]))
        plus = direct({**params, key: params[key] + h})
        minus = direct({**params, key: params[key] - h})
        np.testing.assert_allclose(grad[key], (plus - minus) / (2 * h), rtol=1e-5, err_msg=key)


def test_reweighted_jacobian_rows_equal_autodiff_of_each_output_away_from_reference():
    potential, frames, energy_fn, frame_fn, loss_fn = _setup()
    ref_params = potential.init(None)
    ref = jax.vmap(energy_fn, in_axes=(None, 0))(ref_params, frames)
    kT = 2.5
    params = {k: v * 1.01 for k, v in ref_params.items()}
    aux = {"target": jnp.array(-5.0)}

    def outputs_fn(averages, aux):  # three nonlinear functions of the averages, one of them the loss
        loss, energy_mean = loss_fn(averages, aux)
        return jnp.stack([loss, averages["force_sq"] ** 0.5, averages["x"][1, 2] * energy_mean]), energy_mean

    result = make_reweighted_jacobian(frame_fn, energy_fn, outputs_fn, chunk_size=5)(params, frames, ref, kT, aux)

    def direct(p):
        averages, _ = reweighted_averages(frame_fn, energy_fn, p, frames, ref, kT)
        return outputs_fn(averages, aux)[0]

    np.testing.assert_allclose(result.loss, direct(params), rtol=1e-10)
    auto = jax.jacrev(direct)(params)
    for key in params:
        assert result.grad[key].shape == (3,)
        np.testing.assert_allclose(result.grad[key], auto[key], rtol=1e-7, err_msg=key)
    scalar = make_reweighting(frame_fn, energy_fn, loss_fn, chunk_size=5)(params, frames, ref, kT, aux)
    for key in params:
        np.testing.assert_allclose(result.grad[key][0], scalar.grad[key], rtol=1e-10, err_msg=key)
