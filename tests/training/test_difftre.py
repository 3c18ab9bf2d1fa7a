import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tifusion.graph import build_graph
from tifusion.potential import Potential, energy
from tifusion.training.difftre import (effective_sample_size, make_difftre, quadratic_coefficients,
                                       reweighted_averages, reweighting_weights)

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


def _setup(n_frames=12, seed=0):
    """Frames of a 108-atom fcc crystal; per-frame quantities x = (force components, the summed squared force, a
    strain derivative); observables quadratic in x; three outputs nonlinear in the averages, like the
    stress-fluctuation formula."""
    potential = morse_potential()
    rng = np.random.default_rng(seed)
    a = 0.41
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) * a
    cells = np.array([[i, j, k] for i in range(3) for j in range(3) for k in range(3)]) * a
    positions = (cells[:, None, :] + base[None]).reshape(-1, 3)
    box = jnp.eye(3) * 3 * a
    frames = jnp.asarray(positions[None] + rng.normal(scale=0.01, size=(n_frames,) + positions.shape))

    def energy_fn(params, frame):
        graph = build_graph(frame, box, CUTOFF, 64)
        return energy(potential, params, frame, box, graph)

    def values_fn(params, frame):
        graph = build_graph(frame, box, CUTOFF, 64)
        u = lambda p, r, eps: energy(potential, p, r, box, graph, eps)  # noqa: E731
        forces = -jax.grad(u, argnums=1)(params, frame, jnp.zeros((3, 3)))
        strain = jax.grad(u, argnums=2)(params, frame, jnp.zeros((3, 3)))[0, 0]
        return u(params, frame, jnp.zeros((3, 3))), jnp.stack([forces[0, 0], forces[1, 2], jnp.sum(forces**2), strain])

    def gradients_fn(params, frame):
        (u, x), (grad_u, grad_x) = (values_fn(params, frame),
                                    (jax.grad(lambda p: values_fn(p, frame)[0])(params),
                                     jax.jacrev(lambda p: values_fn(p, frame)[1])(params)))
        return u, x, grad_u, grad_x

    def observables_fn(x, aux):
        return {"x": x, "xx": jnp.outer(x[:2], x[1:3]), "scaled": aux["scale"] * x[3] ** 2}

    def outputs_fn(averages, aux):
        spread = averages["xx"][0, 0] - averages["x"][0] * averages["x"][1]
        outputs = jnp.stack([averages["x"][2] ** 0.5, spread * averages["x"][3], averages["scaled"] - aux["scale"]])
        return outputs, {"spread": spread}

    return potential, frames, energy_fn, values_fn, gradients_fn, observables_fn, outputs_fn


def test_weights_are_uniform_and_ess_is_n_at_reference_parameters():
    potential, frames, energy_fn, *_ = _setup()
    params = potential.init(None)
    ref = jax.vmap(energy_fn, in_axes=(None, 0))(params, frames)
    w = reweighting_weights(ref, ref, kT=2.5)
    np.testing.assert_allclose(w, 1.0 / len(frames), rtol=1e-12)
    np.testing.assert_allclose(effective_sample_size(w), len(frames), rtol=1e-10)


@pytest.mark.slow
def test_difftre_jacobian_equals_autodiff_and_finite_differences_away_from_the_reference():
    potential, frames, energy_fn, values_fn, gradients_fn, observables_fn, outputs_fn = _setup(n_frames=13)
    ref_params = potential.init(None)
    ref = jax.vmap(energy_fn, in_axes=(None, 0))(ref_params, frames)
    kT, aux = 2.5, {"scale": jnp.array(0.7)}
    params = {k: v * 1.01 for k, v in ref_params.items()}  # reweighted, not at the reference
    # 13 frames, at most 5 per chunk: three chunks of 5, the last with 2 fill frames
    evaluate = make_difftre(values_fn, gradients_fn, energy_fn, observables_fn, outputs_fn, chunk_size=5)
    result = evaluate(params, frames, ref, kT, aux)
    fresh = evaluate(params, frames, None, kT, aux)
    np.testing.assert_allclose(fresh.n_eff, len(frames), rtol=1e-12)
    np.testing.assert_allclose(fresh.weights, 1.0 / len(frames), rtol=1e-12)
    assert result.n_eff < len(frames) - 0.5

    def direct(p):
        averages, _ = reweighted_averages(lambda q, f: observables_fn(values_fn(q, f)[1], aux), energy_fn, p, frames,
                                          ref, kT)
        return outputs_fn(averages, aux)[0]

    np.testing.assert_allclose(result.outputs, direct(params), rtol=1e-10)
    auto = jax.jacrev(direct)(params)
    for key in params:
        assert result.jacobian[key].shape == (3,)
        np.testing.assert_allclose(result.jacobian[key], auto[key], rtol=1e-7, err_msg=key)
        h = 1e-5 * abs(float(params[key]))
        plus = direct({**params, key: params[key] + h})
        minus = direct({**params, key: params[key] - h})
        np.testing.assert_allclose(result.jacobian[key], (plus - minus) / (2 * h), rtol=1e-5, err_msg=key)


def test_chunks_with_fill_frames_give_the_values_and_jacobian_of_one_chunk():
    potential, frames, energy_fn, values_fn, gradients_fn, observables_fn, outputs_fn = _setup(n_frames=7)
    ref_params = potential.init(None)
    ref = jax.vmap(energy_fn, in_axes=(None, 0))(ref_params, frames)
    params = {k: v * 1.01 for k, v in ref_params.items()}
    kT, aux = 2.5, {"scale": jnp.array(0.7)}
    whole, chunked = (make_difftre(values_fn, gradients_fn, energy_fn, observables_fn, outputs_fn, chunk_size=size)(
        params, frames, ref, kT, aux) for size in (7, 3))  # 3: chunks of 3, 3 and 1 + 2 fill frames
    for field in ("outputs", "energies", "weights", "n_eff"):
        np.testing.assert_allclose(getattr(chunked, field), getattr(whole, field), rtol=1e-12, err_msg=field)
    assert chunked.energies.shape == (7,)
    for key in params:
        np.testing.assert_allclose(chunked.jacobian[key], whole.jacobian[key], rtol=1e-10, err_msg=key)


def test_observables_that_are_not_quadratic_in_the_frame_quantities_are_refused():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((5, 3)))
    b, c = quadratic_coefficients(lambda y: 1.0 + y[0] - 2 * y[1] * y[2], x)
    np.testing.assert_allclose(b, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(c, [[0, 0, 0], [0, 0, -1], [0, -1, 0]])
    with pytest.raises(ValueError, match="quadratic"):
        quadratic_coefficients(lambda y: y[0] ** 3, x)
