"""Stress-fluctuation elastic constants from Langevin MD at low T against static (0 K) relaxed-ion constants.

hcp is not a Bravais lattice: the ions relax under strain (C11, C12, C66), and at low T the
fluctuation term is what brings the Born terms down to the relaxed-ion values. The static
references come from an independent code path (:mod:`tifusion.properties.static`: Hessian
in displacements and strain, ions relaxed by solving the force-constant system).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tifusion.md.nvt import run_nvt
from tifusion.md.pair import lennard_jones
from tifusion.md.state import init_state
from tifusion.observables.elasticity import (born_terms_batch, hexagonal_constants, pressure, shared_graph,
                                             stress_fluctuation)
from tifusion.observables.statistics import block_average, block_estimate
from tifusion.properties.static import elastic_tensor, hexagonal_constants_gpa, relax_hcp
from tifusion.reference.eam import zhou2004_ti
from tifusion.structures import hcp_supercell
from tifusion.units import GPA, MASS_TI
from tifusion.units import kT as kT_of

NAMES = ("C11", "C33", "C44", "C12", "C13")


def _md_elastic_constants(potential, mass, a, c, repeat, temperature, dt, steps, skin, born_skin, seed=0):
    """(constants [5] GPa, standard errors [5], Born-only constants [5], pressure GPa and its error)."""
    positions, box = hcp_supercell(a, c, repeat)
    kT = kT_of(temperature)
    run = dict(kT=kT, dt=dt, friction=5.0, mass=mass, skin=skin, chunk_frames=50)
    state = init_state(jax.random.PRNGKey(seed), positions, box, kT, potential, None, mass=mass)
    state, _ = run_nvt(potential, None, state, 500, 10, **run)
    state, frames = run_nvt(potential, None, state, steps, 10, **run)
    box = jnp.asarray(box)
    graph = shared_graph(frames.positions, box, potential.cutoff, born_skin)
    sigma, stiffness, overflowed = born_terms_batch(potential, None, frames.positions, box, batch_size=16,
                                                    graph=graph)
    assert not np.asarray(overflowed).any()
    volume, n_atoms = float(jnp.linalg.det(box)), len(positions)

    def constants(s, c):
        return np.array(hexagonal_constants(stress_fluctuation(jnp.asarray(s), jnp.asarray(c), None, volume, kT,
                                                               n_atoms))) / GPA

    estimate, error = block_estimate(constants, np.asarray(sigma), np.asarray(stiffness))
    born_only = np.array(hexagonal_constants(jnp.mean(stiffness, axis=0))) / GPA
    p, p_error = block_average(np.asarray(pressure(frames.virial, frames.kinetic, volume)) / GPA)
    return estimate, error, born_only, p, p_error


def _static(potential, a, c):
    relaxed = relax_hcp(potential, None, a, c)
    constants = hexagonal_constants_gpa(elastic_tensor(potential, None, relaxed["positions"], relaxed["box"]))
    return relaxed, np.array([constants[name] for name in NAMES])


@pytest.mark.slow
def test_lennard_jones_hcp_at_1K_matches_its_static_relaxed_ion_constants():
    # A C-infinity switch between neighbour shells: thermal averages of the Born terms stay analytic in T.
    potential = lennard_jones(cutoff=2.45 * 0.3405, switch_width=0.2 * 0.3405)
    relaxed, static = _static(potential, 0.375, 0.602)
    estimate, error, born_only, p, _ = _md_elastic_constants(
        potential, 39.948, relaxed["a"], relaxed["c"], (4, 4, 3), temperature=1.0, dt=5e-3, steps=4000,
        skin=0.05, born_skin=0.06)
    assert np.all(np.abs(estimate - static) < 3 * error + 0.01 * static.max()), (estimate, error, static)
    # The fluctuation term matters: the Born term alone misses the ionic relaxation of C11 and C12.
    assert abs(born_only[0] - static[0]) > 3 * error[0] + 0.01 * static.max()
    assert abs(p) < 0.002 * static.max()


@pytest.mark.slow
def test_eam_titanium_at_30K_matches_the_0K_relaxed_ion_constants_and_has_near_zero_pressure():
    """Zhou 2004 EAM, 150-atom cell at its own lattice constants (C11 147.7, C33 203.2, C44 36.6,
    C12 88.5, C13 68.8 GPa): within the statistical error plus 2 GPa of thermal and sampling effects."""
    potential = zhou2004_ti()
    relaxed, static = _static(potential, 0.294, 0.477)
    np.testing.assert_allclose(static, [147.7, 203.2, 36.6, 88.5, 68.8], atol=0.1)
    estimate, error, _, p, p_error = _md_elastic_constants(
        potential, MASS_TI, relaxed["a"], relaxed["c"], (5, 5, 3), temperature=30.0, dt=2e-3, steps=6000,
        skin=0.08, born_skin=0.1)
    assert np.all(np.abs(estimate - static) < 3 * error + 2.0), (estimate, error, static)
    assert np.all(error < 3.0)
    # Thermal pressure only: 3 kT per atom volume times a Grueneisen parameter of order 1.
    assert 0 < p < 0.3, (p, p_error)
