"""Crystal builders against the authors' box form and ASE's own crystal builders."""
import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import neighbor_list

from tifusion.structures import (bcc_cubic, fcc_cubic, from_atoms, hcp_orthogonal, hcp_supercell, to_atoms)
from tifusion.units import ANGSTROM

A, C = 0.295059, 0.467880  # nm, the experimental 298 K lattice


def _distances(atoms, cutoff):
    """Sorted neighbour distances per atom (Angstrom), from ASE's neighbour list."""
    i, d = neighbor_list("id", atoms, cutoff)
    return [np.sort(d[i == k]) for k in range(len(atoms))]


def test_hcp_supercell_is_the_authors_150_atom_box():
    positions, box = hcp_supercell(A, C)
    assert positions.shape == (150, 3)
    expected = np.array([[5 * A, 0, 0], [-2.5 * A, 5 * A * np.sqrt(3) / 2, 0], [0, 0, 3 * C]]).T  # columns
    np.testing.assert_allclose(box, expected, rtol=1e-15)
    frac = np.linalg.solve(box, positions.T).T * np.array([5, 5, 3])  # in primitive-cell units
    basis = np.mod(frac, 1.0)
    on_a = np.all(np.isclose(basis, [1 / 3, 2 / 3, 1 / 4]), axis=1)
    on_b = np.all(np.isclose(basis, [2 / 3, 1 / 3, 3 / 4]), axis=1)
    assert on_a.sum() == 75 and on_b.sum() == 75
    cells = {tuple(v) for v in np.floor(frac).astype(int)}
    assert len(cells) == 75  # every primitive cell of the 5x5x3 box holds one atom of each kind
    assert (positions[:, 0] < 0).any()  # Cartesian in the triclinic cell, as in the authors' files


def test_hcp_has_the_neighbour_shells_of_ase_hcp():
    mine = to_atoms(*hcp_supercell(A, C, (3, 3, 2)))
    reference = bulk("Ti", "hcp", a=A / ANGSTROM, c=C / ANGSTROM).repeat((3, 3, 2))
    ours, theirs = _distances(mine, 6.0), _distances(reference, 6.0)
    for d in ours:
        np.testing.assert_allclose(d, theirs[0], atol=1e-10)
    in_plane, out_of_plane = A, np.sqrt(A**2 / 3 + C**2 / 4)  # 6 neighbours each
    np.testing.assert_allclose(ours[0][:12], np.sort([in_plane] * 6 + [out_of_plane] * 6) / ANGSTROM, rtol=1e-12)


def test_hcp_orthogonal_cell_is_the_same_crystal():
    positions, box = hcp_orthogonal(A, C, (2, 1, 1))
    assert positions.shape == (8, 3)
    np.testing.assert_allclose(box, np.diag([2 * A, np.sqrt(3) * A, C]), rtol=1e-15)
    hexagonal = hcp_supercell(A, C, (1, 1, 1))
    # same atomic volume, and every orthogonal-cell atom is a lattice translate of a hexagonal basis atom
    assert np.linalg.det(box) / 8 == pytest.approx(np.linalg.det(hexagonal[1]) / 2, rel=1e-14)
    frac = np.linalg.solve(hexagonal[1], (positions[:, None, :] - hexagonal[0][None, :, :]).transpose(0, 2, 1))
    is_translate = np.all(np.isclose(frac, np.round(frac), atol=1e-12), axis=1)  # [atom, basis]
    assert is_translate.any(axis=1).all()
    ours = _distances(to_atoms(positions, box), 6.0)
    reference = _distances(bulk("Ti", "hcp", a=A / ANGSTROM, c=C / ANGSTROM), 6.0)
    for d in ours:
        np.testing.assert_allclose(d, reference[0], atol=1e-10)


@pytest.mark.parametrize("builder, name, n_basis", [(bcc_cubic, "bcc", 2), (fcc_cubic, "fcc", 4)])
def test_cubic_cells_match_ase(builder, name, n_basis):
    a = 0.33
    positions, box = builder(a, (2, 1, 3))
    assert positions.shape == (6 * n_basis, 3)
    np.testing.assert_allclose(box, np.diag([2 * a, a, 3 * a]), rtol=1e-15)
    ours = _distances(to_atoms(positions, box), 6.0)
    reference = _distances(bulk("Ti", name, a=a / ANGSTROM, cubic=True), 6.0)
    assert len(bulk("Ti", name, a=a / ANGSTROM, cubic=True)) == n_basis
    for d in ours:
        np.testing.assert_allclose(d, reference[0], atol=1e-10)


def test_ase_conversion_round_trip_and_units():
    positions, box = hcp_supercell(A, C, (2, 2, 1))
    atoms = to_atoms(positions, box)
    assert atoms.get_chemical_symbols() == ["Ti"] * 8 and all(atoms.pbc)
    np.testing.assert_allclose(atoms.cell.lengths()[[0, 2]], [2 * A * 10, C * 10], rtol=1e-14)  # 1 nm = 10 Angstrom
    back_positions, back_box = from_atoms(atoms)
    np.testing.assert_allclose(back_positions, positions, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(back_box, box, rtol=1e-14, atol=1e-15)
    atoms.pbc = [True, True, False]
    with pytest.raises(ValueError, match="periodic"):
        from_atoms(atoms)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="not Angstrom"):
        hcp_supercell(2.95, 4.68)
    with pytest.raises(ValueError, match="positive"):
        bcc_cubic(-0.3)
    with pytest.raises(ValueError, match="repeat"):
        fcc_cubic(0.4, (1, 0, 1))
