"""Crystal builders in internal units, and the conversion to and from ``ase.Atoms``.

Every builder takes lattice constants in nm and returns ``(positions [N, 3], box [3, 3])``
in nm, numpy float64, with the box **columns** the lattice vectors (jax-md convention,
see :mod:`tifusion.graph`) and Cartesian positions r = box @ s inside the cell.
Atoms are ordered cell by cell (first repeat index slowest), basis atom fastest.

Frames: x along the hcp a axis, z along c (the authors' experimental boxes); cubic cells
are axis-aligned.
"""
import itertools

import ase
import numpy as np

from tifusion.units import ANGSTROM

# hcp basis in the fractional coordinates of the primitive cell (a1, a2, c): the authors' choice.
HCP_BASIS = np.array([[1 / 3, 2 / 3, 1 / 4], [2 / 3, 1 / 3, 3 / 4]])
# The same atoms in the orthorhombic cell (a, sqrt(3) a, c), which holds two primitive cells.
HCP_ORTHOGONAL_BASIS = np.array([[0, 1 / 3, 1 / 4], [1 / 2, 5 / 6, 1 / 4], [1 / 2, 1 / 6, 3 / 4], [0, 2 / 3, 3 / 4]])
BCC_BASIS = np.array([[0, 0, 0], [1 / 2, 1 / 2, 1 / 2]])
FCC_BASIS = np.array([[0, 0, 0], [0, 1 / 2, 1 / 2], [1 / 2, 0, 1 / 2], [1 / 2, 1 / 2, 0]])


def _check_repeat(repeat):
    repeat = tuple(int(n) for n in repeat)
    if len(repeat) != 3 or min(repeat) < 1:
        raise ValueError(f"repeat must be three positive integers, got {repeat}")
    return repeat


def _check_lengths(**lengths):
    for name, value in lengths.items():
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"lattice constant {name} must be a positive length in nm, got {value}")
        if value > 1.0:  # every crystal built here has lattice constants well below 1 nm
            raise ValueError(f"lattice constant {name} = {value} nm is implausibly large: pass nm, not Angstrom")


def periodic_crystal(cell, basis, repeat):
    """Repeat a unit ``cell`` (columns = lattice vectors) with fractional ``basis``."""
    repeat = _check_repeat(repeat)
    cell = np.asarray(cell, dtype=np.float64)
    basis = np.asarray(basis, dtype=np.float64)
    offsets = np.array(list(itertools.product(*(range(n) for n in repeat))), dtype=np.float64)
    frac = (offsets[:, None, :] + basis[None, :, :]).reshape(-1, 3)
    positions = frac @ cell.T
    box = cell * np.array(repeat, dtype=np.float64)[None, :]
    return positions, box


def hcp_primitive_cell(a, c):
    """Columns (a, 0, 0), (-a/2, a sqrt(3)/2, 0), (0, 0, c)."""
    return np.array([[a, -a / 2, 0.0], [0.0, a * np.sqrt(3) / 2, 0.0], [0.0, 0.0, c]])


def hcp_supercell(a, c, repeat=(5, 5, 3)):
    """hcp supercell of the primitive cell; (5, 5, 3) is the authors' 150-atom experimental box."""
    _check_lengths(a=a, c=c)
    return periodic_crystal(hcp_primitive_cell(a, c), HCP_BASIS, repeat)


def hcp_orthogonal(a, c, repeat=(1, 1, 1)):
    """hcp in the 4-atom orthorhombic cell (a, sqrt(3) a, c), same atoms as :func:`hcp_supercell`."""
    _check_lengths(a=a, c=c)
    return periodic_crystal(np.diag([a, np.sqrt(3) * a, c]), HCP_ORTHOGONAL_BASIS, repeat)


def bcc_cubic(a, repeat=(1, 1, 1)):
    """bcc in the 2-atom conventional cubic cell."""
    _check_lengths(a=a)
    return periodic_crystal(a * np.eye(3), BCC_BASIS, repeat)


def fcc_cubic(a, repeat=(1, 1, 1)):
    """fcc in the 4-atom conventional cubic cell."""
    _check_lengths(a=a)
    return periodic_crystal(a * np.eye(3), FCC_BASIS, repeat)


def to_atoms(positions, box, symbol="Ti"):
    """``ase.Atoms`` (Angstrom, cell rows = lattice vectors, fully periodic) from nm arrays."""
    positions = np.asarray(positions, dtype=np.float64)
    box = np.asarray(box, dtype=np.float64)
    return ase.Atoms(
        symbols=[symbol] * len(positions), positions=positions / ANGSTROM, cell=box.T / ANGSTROM, pbc=True
    )


def from_atoms(atoms):
    """(positions [N, 3], box [3, 3]) in nm, box columns = lattice vectors, from ``ase.Atoms``."""
    if not all(atoms.pbc):
        raise ValueError(f"expected a fully periodic structure, got pbc = {list(atoms.pbc)}")
    return atoms.positions * ANGSTROM, np.array(atoms.cell.array).T * ANGSTROM
