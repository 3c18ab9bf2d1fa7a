"""Born terms of DimeNet++ (the model the DiffTRe training differentiates): the 6-direction
strain Hessian with its stress terms equals full nested autodiff over the general 3x3 strain,
and the hexagonal strain derivatives give its readout. Small float64 model of conftest.py.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tifusion.graph import build_graph, image_range
from tifusion.observables.elasticity import (born_terms, hexagonal_constants, hexagonal_strain_derivatives,
                                             hexagonal_stress_and_born)
from tifusion.potential import energy
from tifusion.structures import hcp_supercell


def _strained_rattled_hcp(seed=0):
    positions, box = hcp_supercell(0.295125, 0.467942, (2, 2, 2))
    rng = np.random.default_rng(seed)
    deformation = np.eye(3) + 0.02 * rng.standard_normal((3, 3))  # triclinic, stressed, rotated
    positions = positions @ deformation.T + 0.01 * rng.standard_normal(positions.shape)
    return jnp.asarray(positions), jnp.asarray(deformation @ box)


@pytest.mark.slow
def test_dimenet_born_terms_equal_nested_autodiff_of_the_general_strain(small_model):
    potential, params, _ = small_model
    positions, box = _strained_rattled_hcp()
    graph = jax.jit(build_graph, static_argnums=(2, 3, 4))(positions, box, potential.cutoff, 48,
                                                           image_range(np.asarray(box), potential.cutoff))
    assert int(graph.max_neighbors) <= 48
    volume = jnp.abs(jnp.linalg.det(box))
    u = lambda eps: energy(potential, params, positions, box, graph, eps)  # noqa: E731
    zero = jnp.zeros((3, 3))
    full = np.asarray(jax.jit(jax.jacfwd(jax.jacrev(u)))(zero) / volume)
    gradient = np.asarray(jax.jit(jax.grad(u))(zero) / volume)
    sigma, stiffness = born_terms(potential, params, positions, box, graph)
    scale = np.abs(full).max()
    np.testing.assert_allclose(np.asarray(sigma), gradient, rtol=1e-10, atol=1e-12 * np.abs(gradient).max())
    np.testing.assert_allclose(np.asarray(stiffness), full, rtol=1e-8, atol=1e-10 * scale)
    assert np.abs(full - full.transpose(0, 1, 3, 2)).max() > 1e-4 * scale  # the stress terms matter here
    _, x = hexagonal_strain_derivatives(u, positions.dtype)
    stress, born = hexagonal_stress_and_born(x, volume)
    np.testing.assert_allclose(np.asarray(born), np.array(hexagonal_constants(jnp.asarray(full))), rtol=1e-8,
                               atol=1e-10 * scale)
    np.testing.assert_allclose(np.asarray(stress), gradient[[0, 1, 2, 1, 0], [0, 1, 2, 2, 2]], rtol=1e-10,
                               atol=1e-12 * np.abs(gradient).max())
