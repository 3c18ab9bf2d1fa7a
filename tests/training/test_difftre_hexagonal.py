"""The EXP trainer's observables (Born terms along the 5 strain directions the hexagonal constants need) give
the same DiffTRe loss, predictions and parameter gradient as the full Born tensor, reweighted or not.
"""
import jax.numpy as jnp
import numpy as np

from tifusion.graph import build_graph, image_range
from tifusion.md.state import default_capacity
from tifusion.observables.elasticity import born_terms, elastic_tensor_from_averages, hexagonal_constants
from tifusion.structures import hcp_supercell
from tifusion.training.difftre import make_reweighting
from tifusion.training.exp import frame_energy, frame_observables, make_statepoint_loss
from tifusion.units import GPA, kT as kT_of

LOSS_WEIGHTS = {"stiffness": 1e-10, "pressure": 1e-9}


def full_tensor_frame_observables(potential, params, frame, capacity, n_images):
    """The straightforward reference: the whole 3x3x3x3 Born stiffness of every frame (6 strain directions)."""
    box = frame["box"]
    graph = build_graph(frame["positions"], box, potential.cutoff, capacity, n_images)
    sigma, stiffness = born_terms(potential, params, frame["positions"], box, graph)
    volume = jnp.abs(jnp.linalg.det(box))
    pressure = frame["kinetic_trace"] / (3 * volume) - jnp.trace(sigma) / 3
    return {"sigma": sigma, "sigma_sigma": jnp.einsum("ij,kl->ijkl", sigma, sigma), "born": stiffness,
            "pressure": pressure}


def full_tensor_loss(averages, aux):
    tensor = elastic_tensor_from_averages(averages["born"], averages["sigma_sigma"], averages["sigma"], aux["volume"],
                                          aux["kT"], aux["n_atoms"])
    constants = jnp.stack(hexagonal_constants(tensor))
    pressure = averages["pressure"]
    loss = (LOSS_WEIGHTS["stiffness"] * jnp.mean((constants - aux["targets"]) ** 2)
            + LOSS_WEIGHTS["pressure"] * (pressure - aux["target_pressure"]) ** 2)
    return loss, {"elastic": constants, "pressure": pressure}


def test_hexagonal_observables_give_the_full_tensor_loss_and_gradient(scaled_eam):
    positions, box = hcp_supercell(0.2951, 0.4679, (3, 3, 2))
    rng = np.random.default_rng(0)
    n_frames, temperature = 6, 323.0
    frames = {"positions": jnp.asarray(positions[None] + 0.008 * rng.standard_normal((n_frames,) + positions.shape)),
              "box": jnp.broadcast_to(jnp.asarray(box), (n_frames, 3, 3)),
              "kinetic_trace": jnp.asarray(3 * len(positions) * kT_of(temperature) * (1 + 0.05 * rng.standard_normal(
                  n_frames)))}
    capacity = max(default_capacity(p, box, scaled_eam.cutoff) for p in np.asarray(frames["positions"]))
    n_images = image_range(box, scaled_eam.cutoff)
    kT = kT_of(temperature)
    aux = {"volume": jnp.abs(jnp.linalg.det(jnp.asarray(box))), "kT": jnp.asarray(kT),
           "n_atoms": jnp.asarray(float(len(positions))), "targets": jnp.array([160.0, 180.0, 46.0, 90.0, 70.0]) * GPA,
           "target_pressure": jnp.asarray(0.0)}
    energy_fn = lambda p, f: frame_energy(scaled_eam, p, f, capacity, n_images)  # noqa: E731
    full = make_reweighting(lambda p, f: full_tensor_frame_observables(scaled_eam, p, f, capacity, n_images),
                            energy_fn, full_tensor_loss, chunk_size=4)
    hexagonal = make_reweighting(lambda p, f: frame_observables(scaled_eam, p, f, capacity, n_images), energy_fn,
                                 make_statepoint_loss(LOSS_WEIGHTS), chunk_size=4)
    reference = {"embed": jnp.array(1.0), "pair": jnp.array(1.0)}
    sampled = full(reference, frames, None, kT, aux)
    params = {"embed": jnp.array(1.01), "pair": jnp.array(0.995)}
    for p, ref in ((reference, None), (params, sampled.energies)):
        a, b = full(p, frames, ref, kT, aux), hexagonal(p, frames, ref, kT, aux)
        np.testing.assert_allclose(b.loss, a.loss, rtol=1e-10)
        np.testing.assert_allclose(b.predictions["elastic"], a.predictions["elastic"], rtol=1e-10)
        np.testing.assert_allclose(b.predictions["pressure"], a.predictions["pressure"], rtol=1e-10, atol=1e-10)
        for key in p:
            assert abs(float(a.grad[key])) > 0
            np.testing.assert_allclose(b.grad[key], a.grad[key], rtol=1e-8, err_msg=key)
    assert float(full(params, frames, sampled.energies, kT, aux).n_eff) < n_frames  # really reweighted


def test_trainer_observables_are_nan_on_a_graph_that_lost_neighbours(scaled_eam):
    positions, box = hcp_supercell(0.2951, 0.4679, (3, 3, 2))
    frame = {"positions": jnp.asarray(positions), "box": jnp.asarray(box), "kinetic_trace": jnp.asarray(1.0)}
    n_images = image_range(box, scaled_eam.cutoff)
    params = {"embed": jnp.array(1.0), "pair": jnp.array(1.0)}
    capacity = default_capacity(positions, box, scaled_eam.cutoff)
    assert np.isfinite(float(frame_observables(scaled_eam, params, frame, capacity, n_images)["pressure"]))
    assert np.isnan(float(frame_observables(scaled_eam, params, frame, 10, n_images)["pressure"]))
