"""Ackland-Jones classification on perfect, rattled, rotated and disordered structures."""
import numpy as np
import pytest

from tifusion.data.structure_type import (BCC, FCC, HCP, OTHER, atom_structures, classify_configurations,
                                          majority_phase)
from tifusion.structures import bcc_cubic, fcc_cubic, hcp_orthogonal, hcp_supercell

A_HCP, C_HCP, A_BCC, A_FCC = 0.29402, 0.47723, 0.32918, 0.41543  # teacher lattice, nm


def _one(positions, box):
    return atom_structures(positions[None], box[None], np.ones((1, len(positions)), bool))[0]


CRYSTALS = {
    "hcp": (hcp_orthogonal(A_HCP, C_HCP, (4, 2, 3)), HCP),
    "hcp_triclinic": (hcp_supercell(A_HCP, C_HCP, (5, 5, 3)), HCP),  # the authors' 150-atom cell
    "ideal_hcp": (hcp_orthogonal(A_HCP, A_HCP * np.sqrt(8 / 3), (4, 2, 3)), HCP),
    "bcc": (bcc_cubic(A_BCC, (4, 4, 4)), BCC),
    "fcc": (fcc_cubic(A_FCC, (3, 3, 3)), FCC),
    "fcc_small_cell": (fcc_cubic(A_FCC, (1, 1, 1)), FCC),  # needs explicit images
}


@pytest.mark.parametrize("name", CRYSTALS)
def test_perfect_crystals_are_recognised_atom_by_atom(name):
    (positions, box), code = CRYSTALS[name]
    np.testing.assert_array_equal(_one(positions, box), code)


@pytest.mark.parametrize("name, sigma_nm, min_fraction", [
    ("hcp", 0.008, 0.9), ("bcc", 0.005, 0.9), ("fcc", 0.008, 0.9),
])
def test_rattled_crystals_keep_their_majority(name, sigma_nm, min_fraction):
    (positions, box), code = CRYSTALS[name]
    rng = np.random.default_rng(0)
    rattled = positions + rng.normal(0, sigma_nm, positions.shape)
    codes = _one(rattled, box)
    assert np.mean(codes == code) >= min_fraction
    assert classify_configurations(rattled[None], box[None], np.ones((1, len(positions)), bool))[0] == name


def test_rotation_translation_and_unit_invariance():
    (positions, box), _ = CRYSTALS["hcp_triclinic"]
    rng = np.random.default_rng(1)
    rattled = positions + rng.normal(0, 0.01, positions.shape)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rotation = q * np.sign(np.linalg.det(q))
    reference = _one(rattled, box)
    np.testing.assert_array_equal(_one(rattled @ rotation.T + 0.37, rotation @ box), reference)
    np.testing.assert_array_equal(_one(10 * rattled, 10 * box), reference)  # Angstrom in, same answer


def test_random_gas_is_other():
    rng = np.random.default_rng(2)
    box = 1.5 * np.eye(3)
    codes = _one(rng.uniform(0, 1.5, (128, 3)), box)
    assert np.mean(codes == OTHER) > 0.9


def test_padding_and_mixed_sizes_in_one_batch():
    (fcc, fcc_box), _ = CRYSTALS["fcc"]  # 108 atoms
    (hcp, hcp_box), _ = CRYSTALS["hcp"]  # 96 atoms, padded
    positions = np.zeros((2, len(fcc), 3))
    positions[0], positions[1, :len(hcp)] = fcc, hcp
    mask = np.zeros((2, len(fcc)), bool)
    mask[0], mask[1, :len(hcp)] = True, True
    boxes = np.stack([fcc_box, hcp_box])
    codes = atom_structures(positions, boxes, mask)
    assert np.all(codes[0] == FCC) and np.all(codes[1, :len(hcp)] == HCP) and np.all(codes[1, len(hcp):] == OTHER)
    np.testing.assert_array_equal(classify_configurations(positions, boxes, mask), ["fcc", "hcp"])


def test_majority_counts_real_atoms_and_breaks_ties_in_order():
    codes = np.array([[BCC, BCC, FCC, FCC, OTHER, OTHER], [HCP, OTHER, OTHER, BCC, BCC, BCC]])
    mask = np.array([[True] * 4 + [False] * 2, [True] * 3 + [False] * 3])
    np.testing.assert_array_equal(majority_phase(codes, mask), ["bcc", "other"])
