"""The Zhou 2004 Ti EAM against docs/reference_potential.md (independent lattice sums and LAMMPS)
and against finite differences, extensivity and its own published functional form."""
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tifusion.graph import build_graph, displacements, image_range
from tifusion.potential import energy_forces_virial
from tifusion.properties.static import (complete_graph, cubic_constants_gpa, elastic_tensor, forces_and_stress,
                                        hexagonal_constants_gpa, relax_cubic, relax_hcp)
from tifusion.reference import eam
from tifusion.reference.eam import zhou2004_ti
from tifusion.structures import hcp_supercell
from tifusion.units import ANGSTROM, EV, MEV

POT = zhou2004_ti()
build = jax.jit(build_graph, static_argnames=("cutoff", "capacity", "n_images"))
evaluate = jax.jit(energy_forces_virial, static_argnums=0)
atom_energies = jax.jit(eam.atom_energies)
atom_energies_grad = jax.jit(jax.grad(lambda d, graph: jnp.sum(eam.atom_energies(None, d, graph))))

# docs/reference_potential.md, "Reference values" (rc 7.5 Angstrom).
HCP_A, HCP_C, HCP_E = 2.9402, 4.7723, -4.87017  # Angstrom, Angstrom, eV/atom
HCP_RELAXED = dict(C11=147.7, C12=88.5, C13=68.8, C33=203.2, C44=36.6, C66=29.6)  # GPa
HCP_CLAMPED = dict(C11=161.4, C12=74.8, C66=43.3)
CUBIC = {
    "bcc": dict(a=3.2918, dE_meV=19.9, C11=120.0, C12=109.2, C44=77.3),
    "fcc": dict(a=4.1543, dE_meV=6.4, C11=120.2, C12=88.1, C44=56.1),
}


@pytest.fixture(scope="module")
def hcp():
    return relax_hcp(POT, None, 0.295, 0.470)


def test_cutoff_is_7p5_angstrom_and_functions_vanish_there():
    assert POT.cutoff == pytest.approx(0.75)
    assert eam.CUTOFF_ANGSTROM == 7.5
    assert abs(float(eam.electron_density(7.5))) < 1e-6
    assert abs(float(eam.pair_energy(7.5))) < 1e-6


def test_functions_at_equilibrium_distance_follow_the_published_form():
    # x = 1: the exponentials are 1; the kappa = 0.5 denominator is 1 + 0.5^20.
    assert float(eam.electron_density(eam.R_E)) == pytest.approx(1.8632, abs=1e-12)
    assert float(eam.pair_energy(eam.R_E)) == pytest.approx(0.373601 / (1 + 0.5**20) - 0.570968, abs=1e-12)


def test_embedding_function_and_slope_are_continuous_at_both_branch_points():
    # Zhou et al. built F to be continuous with a continuous slope; typos in the table would break this.
    grad = jax.grad(eam.embedding_energy)
    for rho in (eam.RHO_N, eam.RHO_0):
        below, above = rho * (1 - 1e-12), rho * (1 + 1e-12)
        assert float(eam.embedding_energy(below)) == pytest.approx(float(eam.embedding_energy(above)), abs=2e-5)
        assert float(grad(below)) == pytest.approx(float(grad(above)), rel=1e-3)
    assert float(eam.embedding_energy(eam.RHO_E)) == pytest.approx(-3.22)
    assert float(grad(eam.RHO_E)) == pytest.approx(0.0, abs=1e-12)  # F1 = 0: the minimum sits at rho_e


def test_embedding_gradients_are_finite_everywhere():
    grad = jax.vmap(jax.grad(eam.embedding_energy))
    rho = jnp.array([0.0, 1e-300, 1.0, eam.RHO_N, eam.RHO_E, eam.RHO_0, 3 * eam.RHO_E])
    assert np.all(np.isfinite(np.asarray(grad(rho))))


def test_hcp_lattice_constants_and_energy(hcp):
    assert hcp["a"] / ANGSTROM == pytest.approx(HCP_A, abs=1e-3)
    assert hcp["c"] / ANGSTROM == pytest.approx(HCP_C, abs=1e-3)
    assert hcp["energy_per_atom"] / EV == pytest.approx(HCP_E, abs=1e-3)


def test_hcp_relaxed_ion_elastic_constants(hcp):
    constants = hexagonal_constants_gpa(elastic_tensor(POT, None, hcp["positions"], hcp["box"]))
    for name, value in HCP_RELAXED.items():
        assert constants[name] == pytest.approx(value, abs=1.0), name


def test_hcp_clamped_ion_elastic_constants(hcp):
    constants = hexagonal_constants_gpa(elastic_tensor(POT, None, hcp["positions"], hcp["box"], relaxed_ions=False))
    for name, value in HCP_CLAMPED.items():
        assert constants[name] == pytest.approx(value, abs=1.0), name


@pytest.mark.parametrize("structure", ["bcc", "fcc"])
def test_cubic_phases(hcp, structure):
    ref = CUBIC[structure]
    state = relax_cubic(POT, None, structure, 0.97 * ref["a"] * ANGSTROM)
    assert state["a"] / ANGSTROM == pytest.approx(ref["a"], abs=1e-3)
    assert (state["energy_per_atom"] - hcp["energy_per_atom"]) / MEV == pytest.approx(ref["dE_meV"], abs=1.0)
    constants = cubic_constants_gpa(elastic_tensor(POT, None, state["positions"], state["box"]))
    for name in ("C11", "C12", "C44"):
        assert constants[name] == pytest.approx(ref[name], abs=1.0), name


def _rattled_strained_hcp(repeat, seed=0):
    rng = np.random.default_rng(seed)
    positions, box = hcp_supercell(0.2950, 0.4750, repeat)
    deformation = np.eye(3) + 0.02 * rng.standard_normal((3, 3))
    return (positions + 0.01 * rng.standard_normal(positions.shape)) @ deformation.T, deformation @ box


def _energy(positions, box):
    return forces_and_stress(POT, None, positions, box)[0]


def test_forces_and_virial_match_central_differences():
    positions, box = _rattled_strained_hcp((2, 2, 2))
    graph = complete_graph(POT, positions, box)
    _, forces, virial = evaluate(POT, None, jnp.asarray(positions), jnp.asarray(box), graph)
    h = 1e-5  # nm; strain steps of the same size
    for atom, axis in [(0, 0), (3, 2), (11, 1)]:
        step = np.zeros_like(positions)
        step[atom, axis] = h
        derivative = (_energy(positions + step, box) - _energy(positions - step, box)) / (2 * h)
        assert float(forces[atom, axis]) == pytest.approx(-derivative, rel=1e-6, abs=1e-5)
    for i, j in [(0, 0), (2, 2), (0, 1), (1, 2)]:  # real affine deformation of atoms and cell, graph rebuilt
        strain = np.zeros((3, 3))
        strain[i, j] = h
        plus, minus = np.eye(3) + strain, np.eye(3) - strain
        derivative = (_energy(positions @ plus.T, plus @ box) - _energy(positions @ minus.T, minus @ box)) / (2 * h)
        assert float(virial[i, j]) == pytest.approx(-derivative, rel=1e-6, abs=1e-4)


def test_small_cell_with_images_equals_its_supercells():
    positions, box = _rattled_strained_hcp((1, 1, 1))
    per_atom = _energy(positions, box) / 2
    for repeat in [(2, 3, 1), (6, 6, 4)]:  # explicit images; minimum image (widths > 2 cutoff)
        offsets = np.array([(i, j, k) for i in range(repeat[0]) for j in range(repeat[1]) for k in range(repeat[2])])
        big_positions = (positions[None, :, :] + (offsets @ box.T)[:, None, :]).reshape(-1, 3)
        big_box = box * np.array(repeat)[None, :]
        assert (image_range(big_box, POT.cutoff) is None) == (repeat == (6, 6, 4))
        assert _energy(big_positions, big_box) / len(big_positions) == pytest.approx(per_atom, rel=1e-12)


def test_masked_slots_and_padding_atoms_contribute_nothing():
    positions, box = _rattled_strained_hcp((1, 1, 1))
    positions, box = jnp.asarray(positions), jnp.asarray(box)
    n_images = image_range(box, POT.cutoff)
    tight = complete_graph(POT, positions, box)
    padded = build(positions, box, POT.cutoff, tight.idx.shape[1] + 20, n_images)
    assert not np.asarray(padded.mask).all()
    e_tight = np.asarray(atom_energies(None, displacements(positions, box, tight), tight))
    d = displacements(positions, box, padded)  # zero in masked slots
    garbage = jnp.where(padded.mask[..., None], d, jnp.array([0.1, 0.0, 0.0]))  # 1 Angstrom, inside the cutoff
    for filler in (d, garbage):
        np.testing.assert_allclose(np.asarray(atom_energies(None, filler, padded)), e_tight, rtol=1e-13)
        grad = np.asarray(atom_energies_grad(filler, padded))
        assert np.all(np.isfinite(grad))
        assert np.all(grad[~np.asarray(padded.mask)] == 0.0)
    # padding atoms (atom_mask False) change neither the energy nor the real atoms' forces
    extra = jnp.concatenate([positions, positions[:1] + 0.05])
    atom_mask = jnp.array([True, True, False])
    graph = build(extra, box, POT.cutoff, tight.idx.shape[1], n_images, atom_mask)
    e_pad, f_pad, _ = evaluate(POT, None, extra, box, graph)
    e_ref, f_ref, _ = evaluate(POT, None, positions, box, tight)
    assert float(e_pad) == pytest.approx(float(e_ref), rel=1e-13)
    np.testing.assert_allclose(np.asarray(f_pad[:2]), np.asarray(f_ref), atol=1e-9)
    np.testing.assert_array_equal(np.asarray(f_pad[2]), 0.0)


def test_graph_with_a_skin_gives_the_same_energy():
    positions, box = _rattled_strained_hcp((1, 1, 1))
    skin = 0.1  # nm: pairs beyond 7.5 Angstrom in the graph must be ignored
    graph = build(jnp.asarray(positions), jnp.asarray(box), POT.cutoff + skin, 400, image_range(box, POT.cutoff + skin))
    assert int(graph.max_neighbors) <= 400
    e = float(evaluate(POT, None, jnp.asarray(positions), jnp.asarray(box), graph)[0])
    assert e == pytest.approx(_energy(positions, box), rel=1e-13)


def test_refuses_to_run_without_float64():
    code = ("from tifusion.properties.static import energy_per_atom; from tifusion.reference.eam import zhou2004_ti; "
            "from tifusion.structures import hcp_supercell; "
            "energy_per_atom(zhou2004_ti(), None, *hcp_supercell(0.294, 0.477, (1, 1, 1)))")
    env = {**os.environ, "JAX_ENABLE_X64": "0"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode != 0
    assert "enable jax_enable_x64" in result.stderr
