"""Structure of a trajectory: radial distribution g(r) and bond-angle distribution (ADF).

Frames are Cartesian positions [F, N, 3] (nm) with one box [3, 3] for all frames or one
per frame [F, 3, 3] (columns = lattice vectors, any triclinic cell). Neighbours come from
:func:`tifusion.graph.build_graph` with the periodic images every frame needs, so cells
narrower than 2 r_max are exact too (an atom then also sees its own periodic images).
Frames are processed in chunks of ``chunk_size`` in one jitted ``lax.map``: memory grows
with the chunk, not with the trajectory. Capacities are sized from the first frame and
grown (one re-run) if any frame has more neighbours: a truncated graph is never used.

Normalisations:

- g(r): per frame, the pair count in the shell [r, r + dr) per atom divided by the
  ideal-gas count rho V_shell, rho = N / V of that frame, V_shell = 4 pi (r2^3 - r1^3) / 3;
  then averaged over frames. For N uncorrelated atoms g tends to (N - 1) / N (the atom is
  not its own neighbour).
- ADF: every triplet j-i-k (j != k, counted once) with both r_ij and r_ik below r_max, as a
  probability density over the angle theta in **degrees**: sum(p) * dtheta = 1 over
  [0, 180]. For uncorrelated neighbours p(theta) = (pi / 180) sin(theta) / 2.
"""
import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tifusion.graph import build_graph, count_max_neighbors, displacements, image_range, perpendicular_widths

CAPACITY_MARGIN = 1.2  # neighbour slots beyond the first frame's largest count


class RDF(NamedTuple):
    r: np.ndarray  # [B] bin centres, nm
    g: np.ndarray  # [B]
    edges: np.ndarray  # [B + 1] nm
    density: float  # mean N / V over frames, 1/nm^3


class ADF(NamedTuple):
    theta: np.ndarray  # [B] bin centres, degrees
    p: np.ndarray  # [B] probability density per degree
    edges: np.ndarray  # [B + 1] degrees
    triplets_per_frame: float  # mean number of j-i-k triplets (j != k counted once) per frame


def _frames(positions, boxes):
    """Positions [F, N, 3] and boxes [F, 3, 3] as float64 numpy, with shape checks."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim == 2:
        positions = positions[None]
    if positions.ndim != 3 or positions.shape[-1] != 3 or positions.shape[1] < 2:
        raise ValueError(f"positions must have shape [frames, atoms >= 2, 3] (nm), got {positions.shape}")
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.shape == (3, 3):
        boxes = np.broadcast_to(boxes, (len(positions), 3, 3))
    if boxes.shape != (len(positions), 3, 3):
        raise ValueError(f"boxes must have shape [3, 3] or [{len(positions)}, 3, 3], got {boxes.shape}")
    volumes = np.abs(np.linalg.det(boxes))
    if not np.all(np.isfinite(positions)) or not np.all(volumes > 0):
        raise ValueError("positions must be finite and every box must have a non-zero volume")
    return positions, boxes


def _images(boxes, cutoff):
    """One static image range valid for every frame (None: minimum image for all)."""
    if all(image_range(box, cutoff) is None for box in boxes):
        return None
    needed = np.max([np.ceil(cutoff / perpendicular_widths(box)) for box in boxes], axis=0)
    return tuple(int(n) for n in needed)


def _check(r_max, n_bins, chunk_size):
    if not (np.isfinite(r_max) and r_max > 0):
        raise ValueError(f"r_max must be a positive distance in nm, got {r_max}")
    if int(n_bins) < 1 or int(chunk_size) < 1:
        raise ValueError(f"n_bins and chunk_size must be positive integers, got {n_bins}, {chunk_size}")


def _run_with_capacity(per_frame, positions, boxes, r_max, capacity, **static):
    """Map ``per_frame`` over frames; re-run once with a larger capacity if a graph overflowed."""
    if capacity is None:
        capacity = max(1, math.ceil(CAPACITY_MARGIN * count_max_neighbors(positions[0], boxes[0], r_max)))
    result, max_neighbors = per_frame(jnp.asarray(positions), jnp.asarray(boxes), r_max, capacity=capacity, **static)
    largest = int(jnp.max(max_neighbors))
    if largest > capacity:
        capacity = math.ceil(1.05 * largest)
        result, max_neighbors = per_frame(jnp.asarray(positions), jnp.asarray(boxes), r_max, capacity=capacity,
                                          **static)
        if int(jnp.max(max_neighbors)) > capacity:
            raise RuntimeError(f"neighbour capacity {capacity} still overflowed ({int(jnp.max(max_neighbors))})")
    return np.asarray(result)


@partial(jax.jit, static_argnames=("n_bins", "capacity", "n_images", "chunk_size"))
def rdf_counts(positions, boxes, r_max, n_bins, capacity, n_images, chunk_size):
    """Pair counts per atom per bin, times the frame volume, summed over frames [n_bins]; and the
    largest neighbour count of each frame [F]. (Per-frame counts * V / N = N / rho; see module doc.)"""
    n_atoms = positions.shape[1]

    def frame(args):
        r, box = args
        graph = build_graph(r, box, r_max, capacity, n_images)
        distance = jnp.linalg.norm(displacements(r, box, graph), axis=-1)
        inside = graph.mask & (distance < r_max)
        bins = jnp.clip(jnp.floor(distance / r_max * n_bins).astype(jnp.int32), 0, n_bins - 1)
        counts = jnp.zeros(n_bins, r.dtype).at[bins.ravel()].add(inside.ravel().astype(r.dtype))
        volume = jnp.abs(jnp.linalg.det(box))
        return counts * volume / n_atoms, graph.max_neighbors

    weighted, max_neighbors = jax.lax.map(frame, (positions, boxes), batch_size=chunk_size)
    return jnp.sum(weighted, axis=0), max_neighbors


def radial_distribution(positions, boxes, r_max, n_bins, chunk_size=4, capacity=None):
    """g(r) on ``n_bins`` equal bins of [0, r_max) (nm), averaged over frames."""
    _check(r_max, n_bins, chunk_size)
    positions, boxes = _frames(positions, boxes)
    n_frames, n_atoms = positions.shape[:2]
    weighted = _run_with_capacity(rdf_counts, positions, boxes, float(r_max), capacity, n_bins=int(n_bins),
                                  n_images=_images(boxes, r_max), chunk_size=int(chunk_size))
    edges = np.linspace(0.0, r_max, int(n_bins) + 1)
    shells = 4 * np.pi / 3 * np.diff(edges**3)
    g = weighted / (n_atoms * shells * n_frames)
    density = float(np.mean(n_atoms / np.abs(np.linalg.det(boxes))))
    return RDF(0.5 * (edges[1:] + edges[:-1]), g, edges, density)


def running_coordination(rdf):
    """Mean number of neighbours within each upper bin edge: rho * integral of 4 pi r^2 g dr."""
    return np.cumsum(rdf.g * rdf.density * 4 * np.pi / 3 * np.diff(rdf.edges**3))


@partial(jax.jit, static_argnames=("n_bins", "capacity", "n_images", "chunk_size"))
def adf_counts(positions, boxes, r_max, n_bins, capacity, n_images, chunk_size):
    """Triplet counts per angle bin over [0, 180] degrees summed over frames [n_bins]; and the
    largest neighbour count of each frame [F]."""

    def frame(args):
        r, box = args
        graph = build_graph(r, box, r_max, capacity, n_images)
        d = displacements(r, box, graph)
        distance = jnp.linalg.norm(d, axis=-1)
        inside = graph.mask & (distance < r_max)
        unit = d / jnp.where(inside, distance, 1.0)[..., None]
        cosine = jnp.clip(jnp.einsum("iax,ibx->iab", unit, unit), -1.0, 1.0)
        theta = jnp.degrees(jnp.arccos(cosine))
        upper = jnp.triu(jnp.ones((capacity, capacity), dtype=bool), k=1)  # each j != k pair once
        valid = inside[:, :, None] & inside[:, None, :] & upper
        bins = jnp.clip(jnp.floor(theta / 180.0 * n_bins).astype(jnp.int32), 0, n_bins - 1)
        counts = jnp.zeros(n_bins, r.dtype).at[bins.ravel()].add(valid.ravel().astype(r.dtype))
        return counts, graph.max_neighbors

    counts, max_neighbors = jax.lax.map(frame, (positions, boxes), batch_size=chunk_size)
    return jnp.sum(counts, axis=0), max_neighbors


def angular_distribution(positions, boxes, r_max=0.4, n_bins=180, chunk_size=4, capacity=None):
    """Bond-angle distribution of triplets with both bonds below ``r_max`` (nm; 0.4 in the paper),
    as a density over theta in degrees on ``n_bins`` equal bins of [0, 180]."""
    _check(r_max, n_bins, chunk_size)
    positions, boxes = _frames(positions, boxes)
    counts = _run_with_capacity(adf_counts, positions, boxes, float(r_max), capacity, n_bins=int(n_bins),
                                n_images=_images(boxes, r_max), chunk_size=int(chunk_size))
    total = counts.sum()
    if total == 0:
        raise ValueError(f"no atom has two neighbours within r_max = {r_max} nm: the ADF is undefined")
    edges = np.linspace(0.0, 180.0, int(n_bins) + 1)
    return ADF(0.5 * (edges[1:] + edges[:-1]), counts / (total * np.diff(edges)), edges,
               float(total / len(positions)))
