"""Shared small DimeNet++ models for the model tests (each configuration compiles once per session)."""
import jax
import pytest

from tifusion.model import dimenet
from tifusion.potential import energy_forces_virial

# Every layer of the paper's structure, smaller and with other basis sizes (compiles fast).
SMALL = dict(dimenet.PAPER_HYPERPARAMETERS, embed_size=8, out_embed_size=12, triplet_embed_size=6,
             basis_embed_size=4, num_blocks=2, num_radial=5, num_spherical=4, num_residual_after_skip=1,
             num_dense_output=2, dtype="float64")


@pytest.fixture(scope="session")
def small_model():
    """(potential, params, hyperparameters), float64 computation."""
    potential = dimenet.make_dimenet(SMALL)
    return potential, potential.init(jax.random.PRNGKey(42)), SMALL


@pytest.fixture(scope="session")
def small_model_f32(small_model):
    """The same parameters with float32 computation."""
    hyperparameters = dict(SMALL, dtype="float32")
    return dimenet.make_dimenet(hyperparameters), small_model[1], hyperparameters


@pytest.fixture(scope="session")
def evaluate():
    """Jitted energy, forces, virial (potential static): one compile per model and shape."""
    return jax.jit(energy_forces_virial, static_argnums=0)
