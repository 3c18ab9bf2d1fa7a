"""The MD state shared by every integrator, its initialisation, evaluation and storage.

An :class:`MDState` is a flat NamedTuple of arrays, so it is a pytree that jit/scan carry
as is, and an npz file holds it exactly (:func:`save_state`, :func:`load_state`): a
trajectory continued from a saved state is bit-identical to an uninterrupted one.

Units are the internal ones (:mod:`tifusion.units`): nm, ps, u, kJ/mol. Positions are
Cartesian and never wrapped (the graph handles unwrapped positions), so displacements
over a run are directly available. The box follows the graph convention (columns are
lattice vectors); only barostats change it.
"""
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tifusion.graph import Graph, build_graph, displacements, image_range, perpendicular_widths
from tifusion.io import load_npz_metadata, save_npz
from tifusion.potential import energy_forces_virial
from tifusion.units import KB, MASS_TI


class MDState(NamedTuple):
    positions: jax.Array  # [N, 3] nm, Cartesian, unwrapped
    momenta: jax.Array  # [N, 3] u nm/ps
    box: jax.Array  # [3, 3] nm, columns = lattice vectors
    forces: jax.Array  # [N, 3] kJ/mol/nm at positions
    energy: jax.Array  # [] potential energy, kJ/mol
    virial: jax.Array  # [3, 3] W = -dU/d(eps), kJ/mol (positive under compression)
    key: jax.Array  # [2] uint32 PRNG key (raw, so it saves to npz)
    step: jax.Array  # [] int, MD steps done since the state was created
    capacity: jax.Array  # [] int, neighbour slots per atom of the graph
    chain_position: jax.Array  # [L] Nose-Hoover chain (L = 0 until a Nose-Hoover run)
    chain_momentum: jax.Array  # [L]


class Evaluation(NamedTuple):
    energy: jax.Array
    forces: jax.Array
    virial: jax.Array
    max_neighbors: jax.Array  # largest neighbour count within cutoff + skin (may exceed capacity)
    images_ok: jax.Array  # the image search (n_images) covers cutoff + skin in this box
    min_distance: jax.Array  # closest pair distance in the graph (nm; inf if no pair)


class Neighbors(NamedTuple):
    """A graph built with cutoff + skin at ``positions``/``box``, reused while it stays valid."""

    graph: Graph
    positions: jax.Array
    box: jax.Array


def images_cover_cutoff(box, cutoff, n_images):
    """Traced check that ``n_images`` (None = minimum image) finds all neighbours in ``box``."""
    a, b, c = box.T
    widths = jnp.abs(jnp.linalg.det(box)) / jnp.stack(
        [jnp.linalg.norm(jnp.cross(b, c)), jnp.linalg.norm(jnp.cross(c, a)), jnp.linalg.norm(jnp.cross(a, b))]
    )
    if n_images is None:
        return jnp.all(widths >= 2 * cutoff)
    return jnp.all(jnp.asarray(n_images, dtype=widths.dtype) * widths >= cutoff)


def build_neighbors(positions, box, cutoff, skin, capacity, n_images):
    return Neighbors(build_graph(positions, box, cutoff + skin, capacity, n_images), positions, box)


def neighbors_stale(neighbors, positions, box, cutoff, skin):
    """True unless every pair now within ``cutoff`` was within ``cutoff + skin`` at the build.

    With F = box box_0^-1 and the displacements u_i = R_i - F R0_i beyond the affine
    deformation, a pair at r0 >= cutoff + skin is now at least (1 - |F - 1|) r0 - 2 max|u|
    apart (|.| the Frobenius norm bounds the spectral one).
    """
    deformation = box @ jnp.linalg.inv(neighbors.box)
    u = positions - neighbors.positions @ deformation.T
    max_u = jnp.sqrt(jnp.max(jnp.sum(u**2, axis=-1)))
    strain = jnp.linalg.norm(deformation - jnp.eye(3, dtype=box.dtype))
    return (1 - strain) * (cutoff + skin) - 2 * max_u < cutoff


def evaluate(potential, params, positions, box, neighbors, capacity, n_images, skin):
    """Energy, forces, virial at ``positions``; the graph is rebuilt when stale (every call if skin is 0).

    Jit-able with static capacity, n_images and skin. Returns (Evaluation, neighbors).
    """
    cutoff = potential.cutoff
    if skin == 0:
        neighbors = build_neighbors(positions, box, cutoff, 0.0, capacity, n_images)
    else:
        neighbors = jax.lax.cond(neighbors_stale(neighbors, positions, box, cutoff, skin),
                                 lambda: build_neighbors(positions, box, cutoff, skin, capacity, n_images),
                                 lambda: neighbors)
    graph = neighbors.graph
    e, f, w = energy_forces_virial(potential, params, positions, box, graph)
    r2 = jnp.where(graph.mask, jnp.sum(displacements(positions, box, graph) ** 2, axis=-1), jnp.inf)
    ev = Evaluation(e, f, w, graph.max_neighbors, images_cover_cutoff(box, cutoff + skin, n_images),
                    jnp.sqrt(jnp.min(r2)))
    return ev, neighbors


def kinetic_tensor(momenta, mass):
    """K = sum_i p_i p_i^T / m_i [3, 3] in kJ/mol (twice the kinetic energy tensor; tr K = 2 E_kin)."""
    return jnp.einsum("na,nb->ab", momenta, momenta / per_atom_mass(mass))


def kinetic_temperature(kinetic, n_atoms):
    """Instantaneous temperature in K from K (3N degrees of freedom, as in Langevin dynamics)."""
    return jnp.trace(kinetic, axis1=-2, axis2=-1) / (3 * n_atoms * KB)


def per_atom_mass(mass):
    mass = jnp.asarray(mass)
    return mass[:, None] if mass.ndim == 1 else mass


def maxwell_boltzmann(key, n_atoms, kT, mass=MASS_TI, dtype=jnp.float64):
    """Momenta [N, 3] drawn at temperature kT, with the centre-of-mass momentum removed."""
    p = jnp.sqrt(per_atom_mass(mass) * kT) * jax.random.normal(key, (n_atoms, 3), dtype=dtype)
    return p - jnp.mean(p, axis=0)


@partial(jax.jit, static_argnames=("cutoff", "n_images"))
def _max_neighbors(positions, box, cutoff, n_images):
    def count(r):
        return build_graph(r, box, cutoff, 1, n_images).max_neighbors

    if positions.ndim == 3:  # frames, one at a time: bounded memory
        return jnp.max(jax.lax.map(count, positions))
    return count(positions)


def max_neighbor_count(positions, box, cutoff):
    """Largest number of neighbours within ``cutoff`` of any atom of ``positions`` [N, 3] or of any
    frame of [F, N, 3] (explicit images where needed)."""
    n_images = image_range(np.asarray(box), cutoff)
    return int(_max_neighbors(jnp.asarray(positions), jnp.asarray(box), cutoff, n_images))


def frames_capacity(positions, box, cutoff, multiple=4):
    """Neighbour slots for stored frames [F, N, 3]: their largest count plus one, rounded up to ``multiple``.

    Unlike an MD run's capacity (:func:`default_capacity_for`), no margin for atoms still to move:
    the frames are final; the one slot is for a pair at the cutoff that another compiled graph
    build may count, to rounding. Padded slots are not free (DimeNet++'s triplet work grows with
    the capacity squared; bench/born_terms.py, 150-atom hcp frames at 32 slots instead of the MD
    run's 36: energy+forces 32 % and Born terms 9 % faster); the rounding keeps the number of
    distinct shapes, hence compilations, small.
    """
    count = max_neighbor_count(positions, box, cutoff)
    return multiple * int(np.ceil((count + 1) / multiple))


def default_capacity_for(count):
    """Neighbour slots for a largest count: 20 % margin plus 2."""
    return int(np.ceil(1.2 * count)) + 2


def default_capacity(positions, box, cutoff):
    """Neighbour slots for a run starting at ``positions``."""
    return default_capacity_for(max_neighbor_count(positions, box, cutoff))


@partial(jax.jit, static_argnames=("potential", "capacity", "n_images"))
def _evaluate_once(potential, params, positions, box, capacity, n_images):
    neighbors = build_neighbors(positions, box, potential.cutoff, 0.0, capacity, n_images)
    return evaluate(potential, params, positions, box, neighbors, capacity, n_images, 0.0)[0]


def init_state(key, positions, box, kT, potential, params, mass=MASS_TI, capacity=None):
    """A state at ``positions`` with Maxwell-Boltzmann momenta at kT (kJ/mol), step 0.

    ``capacity`` defaults to :func:`default_capacity`; runs grow it when needed. A graph
    that overflows already here is an error (pass a larger capacity).
    """
    positions = jnp.asarray(positions)
    box = jnp.asarray(box, dtype=positions.dtype)
    np_box = np.asarray(box)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"positions must have shape [N, 3], got {positions.shape}")
    if np_box.shape != (3, 3) or not np.linalg.det(np_box) > 0:
        raise ValueError(f"box must be a right-handed 3x3 matrix (columns = lattice vectors), got {np_box}")
    if capacity is None:
        capacity = default_capacity(positions, box, potential.cutoff)
    key_momenta, key_run = jax.random.split(key)
    momenta = maxwell_boltzmann(key_momenta, positions.shape[0], kT, mass, positions.dtype)
    ev = _evaluate_once(potential, params, positions, box, int(capacity), image_range(np_box, potential.cutoff))
    if int(ev.max_neighbors) > int(capacity):
        raise ValueError(f"capacity {capacity} is below the {int(ev.max_neighbors)} neighbours of the initial positions")
    return MDState(
        positions=positions,
        momenta=momenta,
        box=box,
        forces=ev.forces,
        energy=ev.energy,
        virial=ev.virial,
        key=key_run,
        step=jnp.zeros((), jnp.int32),  # explicit dtypes: a loaded state must hit the same compiled code
        capacity=jnp.asarray(int(capacity), jnp.int32),
        chain_position=jnp.zeros(0, dtype=positions.dtype),
        chain_momentum=jnp.zeros(0, dtype=positions.dtype),
    )


def choose_images(box, cutoff, current=None, margin=0.05):
    """``n_images`` for runs whose box may shrink by ``margin``: keeps ``current`` while it stays valid.

    Returns (n_images,). The one-element tuple distinguishes "minimum image" (None) from
    "not chosen yet" for callers that keep the previous choice.
    """
    widths = perpendicular_widths(box) * (1 - margin)
    if current is not None:
        (n_images,) = current
        if n_images is None and np.all(widths >= 2 * cutoff):
            return current
        if n_images is not None and np.all(np.asarray(n_images) * widths >= cutoff):
            return current
    if np.all(widths >= 2 * cutoff):
        return (None,)
    return (tuple(int(np.ceil(cutoff / w)) for w in widths),)


def save_state(path, state, record=None):
    """Write ``state`` (all fields, exactly) to an npz file, atomically, with an optional provenance record."""
    arrays = {name: np.asarray(value) for name, value in state._asdict().items()}
    save_npz(path, arrays, {"kind": "tifusion.md.MDState", **(record or {})})


def load_state(path):
    """The :class:`MDState` saved by :func:`save_state`."""
    meta = load_npz_metadata(path)
    if meta is None or meta.get("kind") != "tifusion.md.MDState":
        raise ValueError(f"{path}: not an MD state file written by tifusion.md.state.save_state (metadata {meta})")
    with np.load(path) as data:
        missing = [name for name in MDState._fields if name not in data.files]
        if missing:
            raise ValueError(f"{path}: MD state file lacks fields {missing}")
        return MDState(**{name: jnp.asarray(data[name]) for name in MDState._fields})

