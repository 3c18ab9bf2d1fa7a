import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import neighbor_list

from tifusion.graph import build_graph, displacements, image_range, overflowed


def _sorted_distances_ase(atoms, cutoff):
    i, d = neighbor_list("id", atoms, cutoff)
    return np.sort(d), np.bincount(i, minlength=len(atoms))


def _sorted_distances_graph(atoms, cutoff, capacity):
    positions = jnp.asarray(atoms.positions)
    box = jnp.asarray(atoms.cell.array.T)
    graph = build_graph(positions, box, cutoff, capacity, image_range(np.asarray(box), cutoff))
    d = np.linalg.norm(np.asarray(displacements(positions, box, graph)), axis=-1)
    return np.sort(d[np.asarray(graph.mask)]), np.asarray(graph.mask).sum(1), graph


@pytest.mark.parametrize("repeat", [(1, 1, 1), (2, 2, 2), (4, 4, 3)])
def test_graph_finds_same_neighbours_as_ase_in_triclinic_cells(repeat):
    rng = np.random.default_rng(0)
    atoms = bulk("Ti", "hcp", a=2.95, c=4.68).repeat(repeat)
    atoms.rattle(0.1, seed=1)
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.03 * rng.standard_normal((3, 3))), scale_atoms=True)
    atoms.positions += rng.uniform(-20, 20, size=3)  # unwrapped positions must work too
    cutoff = 5.0
    ref_d, ref_counts = _sorted_distances_ase(atoms, cutoff)
    d, counts, graph = _sorted_distances_graph(atoms, cutoff, capacity=int(ref_counts.max()) + 3)
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_allclose(d, ref_d, atol=1e-10)
    assert not overflowed(graph)


def test_graph_capacity_overflow_is_reported():
    atoms = bulk("Ti", "hcp", a=2.95, c=4.68).repeat((4, 4, 3))
    _, _, graph = _sorted_distances_graph(atoms, 5.0, capacity=10)
    assert overflowed(graph)
    assert int(graph.max_neighbors) > 10


def test_padding_atoms_have_no_edges_and_are_nobodys_neighbour():
    atoms = bulk("Ti", "hcp", a=2.95, c=4.68).repeat((4, 4, 3))
    positions = jnp.asarray(atoms.positions)
    atom_mask = jnp.arange(len(atoms)) < len(atoms) - 5
    graph = build_graph(positions, jnp.asarray(atoms.cell.array.T), 5.0, 30, None, atom_mask)
    mask = np.asarray(graph.mask)
    assert not mask[len(atoms) - 5 :].any()
    assert not np.isin(np.asarray(graph.idx)[mask], np.arange(len(atoms) - 5, len(atoms))).any()
