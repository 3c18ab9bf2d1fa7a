"""Phonons through phonopy against independent references, with the Zhou 2004 EAM:

- the exact dynamical matrix at q-points commensurate with a supercell, from the autodiff
  Hessian of that periodic supercell's energy (no phonopy, no finite displacements, internal
  units, so phonopy's eV/Angstrom/amu conversion is checked too);
- the long-wavelength acoustic slopes against sqrt(C / rho) with the relaxed-ion elastic
  constants of docs/reference_potential.md (independent lattice sums, cross-checked with LAMMPS);
- translation invariance (three zero modes at Gamma) and the hexagonal zone geometry.

A 3x3x2 supercell (36 atoms) keeps the file fast; the paper's 5x5x3 is the default of the code.
"""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from tifusion.potential import energy
from tifusion.properties import phonons
from tifusion.properties.static import complete_graph
from tifusion.reference.eam import zhou2004_ti
from tifusion.structures import hcp_supercell
from tifusion.units import ANGSTROM, GPA, MASS_TI

POT = zhou2004_ti()
# docs/reference_potential.md: relaxed 0 K lattice and relaxed-ion elastic constants (GPa) of the EAM.
A, C = 2.9402 * ANGSTROM, 4.7723 * ANGSTROM
ELASTIC = dict(C11=147.7, C33=203.2, C44=36.6, C66=29.6)
REPEAT = (3, 3, 2)


@pytest.fixture(scope="module")
def phonon():
    return phonons.hcp_phonopy(POT, None, A, C, supercell=REPEAT)


def hessian_frequencies(qpoints):
    """Frequencies (THz) from the Bloch sum of the exact force constants of the periodic 3x3x2 cell."""
    positions, box = hcp_supercell(A, C, REPEAT)
    graph = complete_graph(POT, positions, box)
    box_j = jnp.asarray(box)
    n = len(positions)
    hessian = jax.jit(jax.hessian(lambda r: energy(POT, None, r.reshape(n, 3), box_j, graph)))(
        jnp.asarray(positions).ravel())
    hessian = np.asarray(hessian).reshape(n, 3, n, 3)  # kJ/mol/nm^2
    cells = np.array(list(itertools.product(*(range(k) for k in REPEAT))), dtype=float)  # cell of atom 2l + kappa
    result = []
    for q in qpoints:
        phase = np.exp(2j * np.pi * cells @ np.asarray(q))  # [cells]
        # D_{kappa alpha, kappa' beta}(q) = (1/m) sum_l' Phi(0 kappa, l' kappa') exp(2 pi i q . n_l')
        block = hessian[:2].reshape(2, 3, len(cells), 2, 3)
        dynamical = np.einsum("aicbj,c->aibj", block, phase).reshape(6, 6) / MASS_TI  # 1/ps^2
        eigenvalues = np.linalg.eigvalsh(0.5 * (dynamical + dynamical.conj().T))
        result.append(np.sign(eigenvalues) * np.sqrt(np.abs(eigenvalues)) / (2 * np.pi))
    return np.array(result)


@pytest.mark.slow
def test_three_acoustic_modes_vanish_at_gamma(phonon):
    # No acoustic sum rule is imposed: zero modes come from the forces' own translation invariance.
    nu = phonons.frequencies_at(phonon, [[0, 0, 0]])[0]
    assert np.all(np.abs(nu[:3]) < 0.05)
    assert np.all(nu[3:] > 3.0)


def test_commensurate_frequencies_equal_the_exact_dynamical_matrix(phonon):
    # Gamma, K, A, H and (1/3, 0, 0) are commensurate with 3x3x2: there the supercell method is exact.
    qpoints = [[0, 0, 0], [1 / 3, 1 / 3, 0], [0, 0, 1 / 2], [1 / 3, 1 / 3, 1 / 2], [1 / 3, 0, 0]]
    expected = hessian_frequencies(qpoints)
    got = phonons.frequencies_at(phonon, qpoints)
    assert np.abs(got[:, 3:] - expected[:, 3:]).max() < 2e-3  # THz; finite displacement of 0.01 Angstrom
    assert np.abs(got[1:] - expected[1:]).max() < 2e-3
    assert expected[0, 3] > 3.0  # a non-trivial optical mode, not a comparison of zeros


def test_long_wavelength_acoustic_slopes_equal_sqrt_c_over_rho(phonon):
    rho = 2 * MASS_TI / (np.sqrt(3) / 2 * A * A * C)  # u/nm^3
    velocity = {name: np.sqrt(value * GPA / rho) for name, value in ELASTIC.items()}  # nm/ps
    reciprocal = 2 * np.pi * np.linalg.inv(phonon.primitive.cell * ANGSTROM)  # columns, 1/nm
    cases = [([0.01, 0, 0], ("C66", "C44", "C11")), ([0, 0, 0.01], ("C44", "C44", "C33"))]
    for q, names in cases:
        k = np.linalg.norm(reciprocal @ np.array(q))
        measured = 2 * np.pi * phonons.frequencies_at(phonon, [q])[0, :3] / k
        expected = np.array([velocity[name] for name in names])
        # 3x3x2 truncates the EAM's force constants (range 2 x 7.5 Angstrom): 1.5 % at worst here,
        # 0.1 % at 6x6x4. Clamped-ion constants would miss C11 by 4 % and C66 by 20 %.
        np.testing.assert_allclose(measured, expected, rtol=0.02)


def test_band_path_geometry_dos_normalisation_and_corner_frequencies(phonon):
    bands = phonons.band_structure(phonon, points_per_segment=11)
    assert bands.labels == ("Gamma", "M", "K", "Gamma", "A")
    # |GM| = 2 pi / (sqrt(3) a), |MK| = 2 pi / (3 a) (MK is perpendicular to GM), |KG| = 4 pi / (3 a), |GA| = pi / c
    gm, mk, kg, ga = 2 * np.pi / (np.sqrt(3) * A), 2 * np.pi / (3 * A), 4 * np.pi / (3 * A), np.pi / C  # 1/nm
    corners = np.cumsum([0, gm, mk, kg, ga])
    np.testing.assert_allclose(bands.label_distances, corners, rtol=1e-12)
    assert bands.frequencies.shape == (4 * 11, 6)
    corners_q = [[0.5, 0, 0], [1 / 3, 1 / 3, 0], [0, 0, 0], [0, 0, 0.5]]
    np.testing.assert_allclose(bands.frequencies[[10, 21, 32, 43]], phonons.frequencies_at(phonon, corners_q),
                               atol=1e-5)  # sqrt of ~1e-13 at the Gamma zeros
    # hcp at A: the non-symmorphic screw axis makes every band doubly degenerate.
    at_a = bands.frequencies[-1]
    np.testing.assert_allclose(at_a[0::2], at_a[1::2], atol=1e-6)
    dos = phonons.density_of_states(phonon, mesh=(12, 12, 8))
    assert np.trapezoid(dos.dos, dos.frequencies) == pytest.approx(6.0, rel=0.01)
    assert dos.frequencies[np.argmax(dos.dos)] > 3.0


def test_experimental_lattice_and_bad_input():
    a, c = phonons.experimental_lattice(298)
    assert (a, c) == pytest.approx((0.295059, 0.467880))
    with pytest.raises(ValueError, match="no experimental hcp lattice"):
        phonons.experimental_lattice(295)
    with pytest.raises(ValueError, match="positive length in nm"):
        phonons.hcp_phonopy(POT, None, 2.94, 4.77)  # Angstrom by mistake
    with pytest.raises(ValueError, match="supercell"):
        phonons.hcp_phonopy(POT, None, A, C, supercell=(3, 3, 0))


def test_measured_points_sit_on_the_path_at_their_wave_vectors_length(phonon):
    bands = phonons.band_structure(phonon, points_per_segment=5)
    corners = dict(zip(["Gamma0", "M", "K", "Gamma", "A"], bands.label_distances))
    reciprocal = phonons._reciprocal_lattice(phonon)  # columns, with 2 pi, 1/nm
    directions = ["[z00]", "[z00]", "[zz0]", "[zz0]", "[zz0]", "[00z]"]
    zetas = np.array([0.25, 0.5, 0.2, 1 / 3, 0.45, 0.3])
    x = phonons.measured_path_coordinates(directions, zetas, bands.labels, bands.label_distances)
    length = lambda q: np.linalg.norm(reciprocal @ np.asarray(q))  # noqa: E731
    assert x[0] - corners["Gamma0"] == pytest.approx(length([0.25, 0, 0]))
    assert x[1] == pytest.approx(corners["M"])
    assert corners["Gamma"] - x[2] == pytest.approx(length([0.2, 0.2, 0]))  # on K-Gamma, measured from Gamma
    assert x[3] == pytest.approx(corners["K"])
    assert corners["K"] - x[4] == pytest.approx(length([0.45 - 1 / 3, 0.45 - 1 / 3, 0]))  # K-M', as long as K-M
    assert x[5] - corners["Gamma"] == pytest.approx(length([0, 0, 0.3]))
    off_path = phonons.measured_path_coordinates(["[00z]"], [0.2], ("Gamma", "M", "K"), bands.label_distances[:3])
    assert np.isnan(off_path).all()


def test_deviations_compare_each_point_with_the_nearest_band_on_its_segment():
    distances = np.array([0.0, 1.0, 2.0, 2.0, 3.0])  # two segments meeting at 2
    frequencies = np.stack([distances, 2 * distances + 1], axis=1)  # two bands
    frequencies[3:] += 10  # the second segment is another stretch of the zone
    measured = pd.DataFrame({"direction": ["[z00]", "[z00]", "[zz0]"], "branch": ["LA", "LA", "TA"],
                             "nu_THz": [0.6, 3.9, 12.6], "path_coordinate": [0.5, 1.5, 2.5]})
    rows = {(r["direction"], r["branch"]): r for r in phonons.dispersion_deviations(distances, frequencies, measured)}
    # LA: 0.6 vs nearest band 0.5 (+0.1), 3.9 vs 4.0 (-0.1); TA: 12.6 vs 12.5 on the second segment only
    assert rows[("[z00]", "LA")]["n_points"] == 2
    assert rows[("[z00]", "LA")]["rms_THz"] == pytest.approx(0.1)
    assert rows[("[zz0]", "TA")]["rms_THz"] == pytest.approx(0.1)
