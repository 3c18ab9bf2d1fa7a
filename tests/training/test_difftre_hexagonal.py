"""The EXP trainer's DiffTRe outputs (C11, C33, C44, C12, C13, P) and their Jacobian equal plain autodiff of the
straightforward reference: the whole 3x3x3x3 Born stiffness of every frame, the stress-fluctuation tensor of its
reweighted averages and its hexagonal readout; reweighted or not.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tifusion.graph import build_graph, image_range
from tifusion.md.state import default_capacity
from tifusion.observables.elasticity import born_terms, elastic_tensor_from_averages, hexagonal_constants
from tifusion.structures import hcp_supercell
from tifusion.training.difftre import make_difftre, reweighted_averages
from tifusion.training.exp import (frame_energy, frame_observables, frame_quantities, frame_quantities_and_gradients,
                                   statepoint_outputs)
from tifusion.units import GPA, kT as kT_of


def full_tensor_frame_observables(potential, params, frame, capacity, n_images):
    box = frame["box"]
    graph = build_graph(frame["positions"], box, potential.cutoff, capacity, n_images)
    sigma, stiffness = born_terms(potential, params, frame["positions"], box, graph)
    volume = jnp.abs(jnp.linalg.det(box))
    pressure = frame["kinetic_trace"] / (3 * volume) - jnp.trace(sigma) / 3
    return {"sigma": sigma, "sigma_sigma": jnp.einsum("ij,kl->ijkl", sigma, sigma), "born": stiffness,
            "pressure": pressure}


def full_tensor_outputs(averages, aux):
    tensor = elastic_tensor_from_averages(averages["born"], averages["sigma_sigma"], averages["sigma"], aux["volume"],
                                          aux["kT"], aux["n_atoms"])
    return jnp.append(jnp.stack(hexagonal_constants(tensor)), averages["pressure"])


def _frames(n_frames=6, temperature=323.0):
    positions, box = hcp_supercell(0.2951, 0.4679, (3, 3, 2))
    rng = np.random.default_rng(0)
    frames = {"positions": jnp.asarray(positions[None] + 0.008 * rng.standard_normal((n_frames,) + positions.shape)),
              "box": jnp.broadcast_to(jnp.asarray(box), (n_frames, 3, 3)),
              "kinetic_trace": jnp.asarray(3 * len(positions) * kT_of(temperature) * (1 + 0.05 * rng.standard_normal(
                  n_frames)))}
    aux = {"volume": jnp.abs(jnp.linalg.det(jnp.asarray(box))), "kT": jnp.asarray(kT_of(temperature)),
           "n_atoms": jnp.asarray(float(len(positions))), "targets": jnp.array([160.0, 180.0, 46.0, 90.0, 70.0]) * GPA,
           "target_pressure": jnp.asarray(0.0)}
    return frames, box, aux


@pytest.mark.slow
def test_difftre_constants_and_jacobian_equal_autodiff_of_the_full_born_tensor(scaled_eam):
    frames, box, aux = _frames()
    capacity = max(default_capacity(p, box, scaled_eam.cutoff) for p in np.asarray(frames["positions"]))
    n_images = image_range(box, scaled_eam.cutoff)
    kT = aux["kT"]
    energy_fn = lambda p, f: frame_energy(scaled_eam, p, f, capacity, n_images)  # noqa: E731
    evaluate = make_difftre(lambda p, f: frame_quantities(scaled_eam, p, f, capacity, n_images),
                            lambda p, f: frame_quantities_and_gradients(scaled_eam, p, f, capacity, n_images),
                            energy_fn, frame_observables, statepoint_outputs, chunk_size=4)
    reference = {"embed": jnp.array(1.0), "pair": jnp.array(1.0)}
    sampled = evaluate(reference, frames, None, kT, aux, with_jacobian=False)
    params = {"embed": jnp.array(1.01), "pair": jnp.array(0.995)}
    for p, ref in ((reference, None), (params, sampled.energies)):
        ref_energies = sampled.energies if ref is None else ref

        def direct(q):
            averages, _ = reweighted_averages(
                lambda qq, f: full_tensor_frame_observables(scaled_eam, qq, f, capacity, n_images), energy_fn, q,
                frames, ref_energies, kT)
            return full_tensor_outputs(averages, aux)

        result = evaluate(p, frames, ref, kT, aux)
        expected = direct(p)
        np.testing.assert_allclose(result.outputs, expected, rtol=1e-10, atol=1e-10 * float(jnp.abs(expected).max()))
        jacobian = jax.jacrev(direct)(p)
        for key in p:
            assert np.all(np.abs(np.asarray(jacobian[key])) > 0)
            np.testing.assert_allclose(result.jacobian[key], jacobian[key], rtol=1e-8, err_msg=key)
        values_only = evaluate(p, frames, ref, kT, aux, with_jacobian=False)
        np.testing.assert_allclose(values_only.outputs, result.outputs, rtol=1e-10)
    assert float(evaluate(params, frames, sampled.energies, kT, aux).n_eff) < len(sampled.energies)  # reweighted


@pytest.mark.slow
def test_trainer_quantities_are_nan_on_a_graph_that_lost_neighbours(scaled_eam):
    positions, box = hcp_supercell(0.2951, 0.4679, (3, 3, 2))
    frame = {"positions": jnp.asarray(positions), "box": jnp.asarray(box), "kinetic_trace": jnp.asarray(1.0)}
    n_images = image_range(box, scaled_eam.cutoff)
    params = {"embed": jnp.array(1.0), "pair": jnp.array(1.0)}
    capacity = default_capacity(positions, box, scaled_eam.cutoff)
    assert np.all(np.isfinite(np.asarray(frame_quantities(scaled_eam, params, frame, capacity, n_images)[1])))
    assert np.all(np.isnan(np.asarray(frame_quantities(scaled_eam, params, frame, 10, n_images)[1])))
    assert np.all(np.isnan(np.asarray(frame_quantities_and_gradients(scaled_eam, params, frame, 10, n_images)[1])))
