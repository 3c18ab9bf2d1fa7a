"""Dense neighbour graphs for periodic (triclinic) cells, shared by every potential.

Convention: ``box`` is a 3x3 matrix whose **columns** are the lattice vectors (jax-md),
positions are Cartesian, r = box @ s for fractional s. A graph stores, for every atom i,
``capacity`` neighbour slots: neighbour index ``idx[i, a]``, integer cell shift
``shift[i, a]`` and ``mask[i, a]``. The displacement of slot a is

    d[i, a] = R[idx[i, a]] - R[i] + box @ shift[i, a]

so a graph built once stays valid for autodiff with respect to positions and box (the
shifts are constants): forces and strain derivatives are exact. Explicit cell shifts make
small cells correct (no minimum-image assumption). Padding atoms (``atom_mask`` False)
have no edges and are nobody's neighbour.

Capacities are static shapes. ``build_graph`` reports the largest neighbour count it saw;
a count above capacity means the graph is truncated: callers must detect that
(``overflowed``) and rebuild with a larger capacity, never use the truncated graph.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Graph(NamedTuple):
    idx: jax.Array  # [N, K] int32, neighbour index (0 where masked)
    shift: jax.Array  # [N, K, 3] float, cell shift in lattice-vector units
    mask: jax.Array  # [N, K] bool, slot holds a neighbour within the cutoff
    atom_mask: jax.Array  # [N] bool, real (not padding) atoms
    max_neighbors: jax.Array  # [] int32, largest count within the cutoff (may exceed K)


def overflowed(graph):
    """True where the graph lost neighbours because its capacity was too small."""
    return graph.max_neighbors > graph.idx.shape[-1]


def perpendicular_widths(box):
    """Distances between opposite faces of the cell, for each lattice direction."""
    box = np.asarray(box, dtype=np.float64)
    volume = abs(np.linalg.det(box))
    a, b, c = box.T
    return volume / np.array(
        [np.linalg.norm(np.cross(b, c)), np.linalg.norm(np.cross(c, a)), np.linalg.norm(np.cross(a, b))]
    )


def image_range(box, cutoff):
    """Cell shifts per direction needed to find every neighbour within ``cutoff``.

    Returns None when every perpendicular width is at least 2 * cutoff: then the minimum
    image is the only image within the cutoff (a neighbour has |s_j - s_i + n|_a < 1/2 in
    every direction, so n = -round(s_j - s_i)). Otherwise, with positions wrapped into the
    cell, |s_j - s_i| < 1 componentwise and |n_a| <= ceil(cutoff / width_a).
    """
    widths = perpendicular_widths(box)
    if np.all(widths >= 2 * cutoff):
        return None
    return tuple(int(np.ceil(cutoff / w)) for w in widths)


def _cell_shifts(n_images):
    ranges = [np.arange(-n, n + 1) for n in n_images]
    grid = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, 3)
    return grid.astype(np.float64)


def build_graph(positions, box, cutoff, capacity, n_images=None, atom_mask=None):
    """Neighbours within ``cutoff`` of every atom, up to ``capacity`` per atom (jit-able).

    ``n_images`` (static) comes from :func:`image_range` for the narrowest cell the graph
    will be used for: None selects the minimum-image search (N candidates per atom), a tuple
    searches those periodic images explicitly (small cells). Slots are filled in candidate
    order; a graph with more neighbours than ``capacity`` is truncated: check :func:`overflowed`.
    """
    positions = jnp.asarray(positions)
    box = jnp.asarray(box, dtype=positions.dtype)
    n_atoms = positions.shape[0]
    if atom_mask is None:
        atom_mask = jnp.ones(n_atoms, dtype=bool)
    frac = positions @ jnp.linalg.inv(box).T
    offset = jnp.floor(frac)  # R = box @ (s_wrapped + offset)
    frac = frac - offset
    ds = frac[None, :, :] - frac[:, None, :]  # [N, N, 3]: s_j - s_i
    if n_images is None:
        images = -jnp.round(ds)[:, :, None, :]  # [N, N, 1, 3]
    else:
        images = jnp.broadcast_to(
            jnp.asarray(_cell_shifts(n_images), dtype=positions.dtype),
            (n_atoms, n_atoms) + _cell_shifts(n_images).shape,
        )
    n_shifts = images.shape[2]
    dist2 = jnp.sum(((ds[:, :, None, :] + images) @ box.T) ** 2, axis=-1)  # [N, N, S]
    is_self = jnp.eye(n_atoms, dtype=bool)[:, :, None] & jnp.all(images == 0, axis=-1)
    valid = (dist2 < cutoff**2) & ~is_self & atom_mask[:, None, None] & atom_mask[None, :, None]
    valid = valid.reshape(n_atoms, n_atoms * n_shifts)
    counts = jnp.sum(valid, axis=1)

    k = min(capacity, n_atoms * n_shifts)
    # Compaction of the valid candidates into k slots (10x faster on CPU than top_k on distances).
    slot = jax.vmap(lambda row: jnp.nonzero(row, size=k, fill_value=0)[0])(valid)
    mask = jnp.arange(k)[None, :] < counts[:, None]
    j = slot // n_shifts
    image = jnp.take_along_axis(images.reshape(n_atoms, n_atoms * n_shifts, 3), slot[..., None], axis=1)
    # Relative to the caller's unwrapped positions: d = R_j - R_i + box @ (n - o_j + o_i).
    shift = image - offset[j] + offset[:, None, :]
    if k < capacity:  # tiny systems: pad the slot dimension to the requested capacity
        pad = ((0, 0), (0, capacity - k))
        j, mask = jnp.pad(j, pad), jnp.pad(mask, pad)
        shift = jnp.pad(shift, pad + ((0, 0),))
    j = jnp.where(mask, j, 0).astype(jnp.int32)
    shift = jnp.where(mask[..., None], shift, 0.0)
    return Graph(j, shift, mask, atom_mask, jnp.max(counts).astype(jnp.int32))


def displacements(positions, box, graph):
    """d[i, a] = R[idx[i, a]] - R[i] + box @ shift[i, a]; zero in masked slots."""
    d = positions[graph.idx] - positions[:, None, :] + graph.shift @ box.T
    return jnp.where(graph.mask[..., None], d, 0.0)


def count_max_neighbors(positions, box, cutoff, atom_mask=None):
    """Largest number of neighbours within ``cutoff`` of any atom (numpy, for sizing)."""
    graph = build_graph(
        jnp.asarray(positions), jnp.asarray(box), cutoff, 1, image_range(box, cutoff), atom_mask
    )
    return int(graph.max_neighbors)
