"""Generic 0 K properties: the Hessian-based elastic tensor against independent routes
(finite strains with explicitly relaxed ions, the Cauchy relation of pair potentials)."""
import jax.numpy as jnp
import numpy as np
import pytest

from tifusion.potential import Potential
from tifusion.properties.static import (cubic_constants_gpa, elastic_tensor, forces_and_stress,
                                        hexagonal_constants_gpa, relax, relax_hcp, voigt_to_strain)
from tifusion.reference.eam import zhou2004_ti
from tifusion.structures import fcc_cubic, hcp_orthogonal
from tifusion.units import GPA

EAM = zhou2004_ti()
VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def lennard_jones_atom_energies(params, d, graph):
    r2 = jnp.where(graph.mask, jnp.sum(d**2, axis=-1), 1.0)
    s6 = (params["sigma"] ** 2 / r2) ** 3
    return 0.5 * jnp.sum(jnp.where(graph.mask, 4 * params["epsilon"] * (s6**2 - s6), 0.0), axis=-1)


LENNARD_JONES = Potential("lennard_jones", 0.6, lennard_jones_atom_energies, lambda rng: None)
LJ_PARAMS = {"epsilon": jnp.asarray(1.0), "sigma": jnp.asarray(0.25)}


@pytest.fixture(scope="module")
def hcp():
    return relax_hcp(EAM, None, 0.294, 0.477)


def _stress_voigt(stress):
    return np.array([stress[i, j] for i, j in VOIGT])


@pytest.mark.parametrize("component", [0, 2, 5])  # xx, zz, xy: the ones internal relaxation can touch
def test_relaxed_ion_tensor_matches_finite_strains_with_relaxed_ions(hcp, component):
    tensor = {ions: elastic_tensor(EAM, None, hcp["positions"], hcp["box"], relaxed_ions=ions)
              for ions in (True, False)}
    delta = 1e-3
    columns = {}
    for ions in (True, False):
        stresses = []
        for sign in (1, -1):
            e = np.zeros(6)
            e[component] = sign * delta
            deformation = np.eye(3) + np.asarray(voigt_to_strain(e))
            positions, box = hcp["positions"] @ deformation.T, deformation @ hcp["box"]
            if ions:
                positions = relax(EAM, None, positions, box, relax_cell=False).positions
            stresses.append(_stress_voigt(forces_and_stress(EAM, None, positions, box)[2]))
        columns[ions] = (stresses[0] - stresses[1]) / (2 * delta)
    for ions in (True, False):
        np.testing.assert_allclose(columns[ions] / GPA, tensor[ions][:, component] / GPA, atol=0.05)
    if component != 2:  # the basal strains move the ions, and that lowers C11 and C66 by > 10 GPa
        assert tensor[False][component, component] - tensor[True][component, component] > 10 * GPA


def test_pair_potential_obeys_the_cauchy_relation_and_cubic_symmetry():
    state = relax(LENNARD_JONES, LJ_PARAMS, *fcc_cubic(0.39))
    tensor = elastic_tensor(LENNARD_JONES, LJ_PARAMS, state.positions, state.box)
    constants = cubic_constants_gpa(tensor)
    assert constants["C12"] == pytest.approx(constants["C44"], rel=1e-8)  # central forces, zero stress, centrosymmetric
    assert constants["C11"] > constants["C12"] > 0
    c = tensor / GPA
    np.testing.assert_allclose(np.diag(c)[:3], constants["C11"], rtol=1e-10)
    np.testing.assert_allclose(c[:3, 3:], 0.0, atol=1e-8)
    np.testing.assert_allclose(c[3:, 3:] - np.diag(np.diag(c)[3:]), 0.0, atol=1e-8)
    clamped = elastic_tensor(LENNARD_JONES, LJ_PARAMS, state.positions, state.box, relaxed_ions=False)
    np.testing.assert_allclose(clamped, tensor, rtol=1e-10, atol=1e-8)  # every fcc atom is an inversion centre


def test_relax_recovers_hcp_from_a_distorted_cell(hcp):
    rng = np.random.default_rng(3)
    positions, box = hcp_orthogonal(0.30, 0.46, (1, 1, 1))
    deformation = np.eye(3) + 0.02 * rng.standard_normal((3, 3))
    state = relax(EAM, None, (positions + 0.005 * rng.standard_normal(positions.shape)) @ deformation.T,
                  deformation @ box)
    assert state.max_force < 1e-4 and state.max_stress < 1e-3
    assert state.energy / 4 == pytest.approx(hcp["energy_per_atom"], abs=1e-6)  # kJ/mol
    volume_per_atom = abs(np.linalg.det(state.box)) / 4
    assert volume_per_atom == pytest.approx(abs(np.linalg.det(hcp["box"])) / 2, rel=1e-6)


def test_elastic_tensor_refuses_a_stressed_state(hcp):
    with pytest.raises(ValueError, match="relaxed state"):
        elastic_tensor(EAM, None, hcp["positions"] * 1.01, hcp["box"] * 1.01)


def test_readouts_in_gpa():
    c = np.zeros((6, 6))
    c[0, 0] = c[1, 1] = 160.0
    c[2, 2] = 180.0
    c[0, 1] = c[1, 0] = 90.0
    c[0, 2] = c[2, 0] = c[1, 2] = c[2, 1] = 66.0
    c[3, 3] = c[4, 4] = 46.0
    c[5, 5] = 35.0
    hexagonal = hexagonal_constants_gpa(c * 602.2140762)  # 1 GPa in kJ/mol/nm^3
    assert hexagonal == pytest.approx(dict(C11=160.0, C12=90.0, C13=66.0, C33=180.0, C44=46.0, C66=35.0), rel=1e-9)
    assert cubic_constants_gpa(c * 602.2140762)["C44"] == pytest.approx((46.0 + 46.0 + 35.0) / 3, rel=1e-9)
