"""Shared fixtures of the trainer tests: a potential with two trainable parameters and a tiny dataset."""
import jax.numpy as jnp
import pytest

from tifusion.data.embedded import generate_embedded
from tifusion.potential import Potential
from tifusion.reference import eam
from tifusion.units import ANGSTROM, EV


def scaled_eam_energies(params, d, graph):
    """The Zhou EAM with trainable scales of its embedding and pair terms."""
    d = jnp.asarray(d, dtype=jnp.float64) / ANGSTROM
    r2 = jnp.sum(d**2, axis=-1)
    pair = graph.mask & (r2 < eam.CUTOFF_ANGSTROM**2)
    r = jnp.sqrt(jnp.where(pair, r2, 1.0))
    rho = jnp.sum(jnp.where(pair, eam.electron_density(r), 0.0), axis=-1)
    half_pairs = 0.5 * jnp.sum(jnp.where(pair, eam.pair_energy(r), 0.0), axis=-1)
    return EV * (params["embed"] * eam.embedding_energy(rho) + params["pair"] * half_pairs)


def unit_scales(rng):
    del rng
    return {"embed": jnp.array(1.0), "pair": jnp.array(1.0)}


_SCALED_EAM = Potential("scaled_zhou_eam", eam.CUTOFF, scaled_eam_energies, unit_scales)

TINY_DATASET = {
    "perfect": {"count": 1}, "ev_scan": {"points": 3}, "voigt_strain": {"magnitudes": [0.01]},
    "random_strain": {"count": 3}, "rattle": {"count": 3},
    "md": {"temperatures_K": {"hcp": [], "bcc": [], "fcc": [], "liquid": []}},
}


@pytest.fixture(scope="session")
def scaled_eam():
    return _SCALED_EAM


@pytest.fixture(scope="session")
def tiny_dataset():
    """About 20 hcp/bcc/fcc configurations labelled by the Zhou EAM (static only: no MD snapshots)."""
    return generate_embedded(TINY_DATASET, seed=0)
