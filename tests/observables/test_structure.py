"""g(r) and the ADF against independent references: ASE's neighbour list on rattled triclinic cells
(exact pair counts), the analytic shells and bond angles of fcc, and the ideal gas."""
import ase.neighborlist
import numpy as np
import pytest

from tifusion.observables.structure import angular_distribution, radial_distribution, running_coordination
from tifusion.structures import fcc_cubic, hcp_supercell, to_atoms

FCC_A = 0.4154  # nm
# fcc shells: distance / a and coordination
FCC_SHELLS = [(np.sqrt(0.5), 12), (1.0, 6), (np.sqrt(1.5), 24), (np.sqrt(2.0), 12)]


def test_fcc_rdf_peaks_at_its_shells_with_their_coordination_numbers():
    positions, box = fcc_cubic(FCC_A, (3, 3, 3))  # 108 atoms; width 1.25 nm < 2 r_max: explicit images
    rdf = radial_distribution(positions, box, r_max=0.62, n_bins=124)
    occupied = rdf.r[rdf.g > 0]
    expected = np.array([d * FCC_A for d, _ in FCC_SHELLS])
    np.testing.assert_allclose(occupied, expected, atol=0.0025)  # one bin per shell, at the shell
    coordination = running_coordination(rdf)
    between = [0.35, 0.47, 0.55, 0.61]  # nm, between consecutive shells
    cumulative = np.cumsum([n for _, n in FCC_SHELLS])  # 12, 18, 42, 54
    for r, n in zip(between, cumulative):
        assert coordination[np.searchsorted(rdf.edges, r) - 1] == pytest.approx(n, rel=1e-12)


def test_rdf_of_rattled_triclinic_frames_equals_ase_pair_counts():
    rng = np.random.default_rng(0)
    base, box0 = hcp_supercell(0.295, 0.468, (2, 2, 2))  # 16 atoms, 120 degree cell, narrow: images
    positions, boxes, ase_counts, pairs = [], [], 0, 0
    r_max, n_bins = 0.7, 70
    edges = np.linspace(0, r_max, n_bins + 1)
    for _ in range(3):
        strain = np.eye(3) + 0.03 * rng.standard_normal((3, 3))
        box = strain @ box0
        r = base @ strain.T + 0.01 * rng.standard_normal(base.shape)
        distances = ase.neighborlist.neighbor_list("d", to_atoms(r, box), r_max * 10) / 10  # Angstrom -> nm
        ase_counts = ase_counts + np.histogram(distances, edges)[0] * abs(np.linalg.det(box)) / len(r)
        pairs += len(distances)
        positions.append(r)
        boxes.append(box)
    rdf = radial_distribution(np.array(positions), np.array(boxes), r_max, n_bins, chunk_size=2)
    regrown = radial_distribution(np.array(positions), np.array(boxes), r_max, n_bins, chunk_size=3, capacity=3)
    shells = 4 * np.pi / 3 * np.diff(edges**3)
    expected = ase_counts / (len(base) * shells * 3)
    assert pairs > 3000
    np.testing.assert_allclose(rdf.g, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(regrown.g, rdf.g, rtol=1e-12)  # a too small capacity is grown, never truncated


@pytest.fixture(scope="module")
def ideal_gas():
    rng = np.random.default_rng(1)
    n_atoms, n_frames, side = 300, 10, 2.6
    return rng.uniform(0, side, (n_frames, n_atoms, 3)), side * np.eye(3)


@pytest.mark.slow
def test_ideal_gas_rdf_tends_to_one(ideal_gas):
    positions, box = ideal_gas
    n_frames, n_atoms = positions.shape[:2]
    rdf = radial_distribution(positions, box, r_max=1.0, n_bins=20, chunk_size=4)
    # Expected pairs per bin (each pair seen from both atoms): sigma of g = sqrt(2 / (F N rho V_shell)).
    shells = 4 * np.pi / 3 * np.diff(rdf.edges**3)
    sigma = np.sqrt(2.0 / (n_frames * n_atoms * rdf.density * shells))
    far = rdf.r > 0.3
    assert np.all(np.abs(rdf.g[far] - (n_atoms - 1) / n_atoms) < 5 * sigma[far])
    assert np.mean(rdf.g[far]) == pytest.approx(1.0, abs=0.01)


def test_fcc_adf_has_the_four_bond_angles_with_the_right_weights():
    positions, box = fcc_cubic(FCC_A, (3, 3, 3))
    adf = angular_distribution(positions, box, r_max=0.35, n_bins=35)  # 12 nearest neighbours, 66 pairs
    weights = adf.p * np.diff(adf.edges)
    assert weights.sum() == pytest.approx(1.0, rel=1e-12)
    expected = {60.0: 24, 90.0: 12, 120.0: 24, 180.0: 6}
    for angle, pairs in expected.items():
        b = min(np.searchsorted(adf.edges, angle) - 1, 34)
        assert weights[b] == pytest.approx(pairs / 66, rel=1e-12), angle
    assert weights.sum() - sum(weights[min(np.searchsorted(adf.edges, t) - 1, 34)] for t in expected) < 1e-12
    assert adf.triplets_per_frame == pytest.approx(108 * 66)


def test_ideal_gas_adf_is_half_sine_and_has_unit_area(ideal_gas):
    positions, box = ideal_gas
    adf = angular_distribution(positions, box, r_max=0.4, n_bins=36)
    width = np.diff(adf.edges)
    assert np.sum(adf.p * width) == pytest.approx(1.0, rel=1e-12)
    exact = (np.cos(np.radians(adf.edges[:-1])) - np.cos(np.radians(adf.edges[1:]))) / 2  # bin probability
    count = adf.triplets_per_frame * len(positions)
    sigma = np.sqrt(exact * count) / count
    # Triplets sharing a bond are correlated, so allow more than the Poisson spread.
    assert np.all(np.abs(adf.p * width - exact) < 6 * sigma)
    assert np.sum((adf.p * width - exact) ** 2 / sigma**2) / len(exact) < 3.0


def test_bad_input_is_refused_with_the_value():
    positions, box = fcc_cubic(FCC_A)
    with pytest.raises(ValueError, match="r_max"):
        radial_distribution(positions, box, r_max=-1.0, n_bins=10)
    with pytest.raises(ValueError, match="boxes"):
        radial_distribution(positions[None].repeat(2, 0), np.stack([box] * 3), r_max=0.5, n_bins=10)
    with pytest.raises(ValueError, match="no atom has two neighbours"):
        angular_distribution(positions, box, r_max=0.2)
