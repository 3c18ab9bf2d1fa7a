"""Chunked MD driver shared by all integrators: jitted chunks, frames, neighbour capacity.

An integrator is a pure function
``step_fn(settings, state, neighbors, evaluate_fn) -> (state, neighbors, Evaluation)``
where ``settings`` is a NamedTuple of numbers (traced, so changing the temperature does not
recompile) and ``evaluate_fn(positions, box, neighbors) -> (Evaluation, neighbors)`` gives
energy, forces and virial on a neighbour graph valid at those positions.

:func:`run` advances ``frame_interval`` steps per frame and ``chunk_frames`` frames per
jitted call (``lax.scan``). With ``skin = 0`` the graph is rebuilt at every step; with a
skin it is built with cutoff + skin and rebuilt only when an atom may have crossed the
skin (Verlet list; the potential must ignore slots beyond its cutoff, as the EAM, the
pair potentials and DimeNet++ do). Each chunk starts from a fresh graph.

The graph has a static capacity; if any step of a chunk needed more neighbour slots than
that (or the box shrank below what its periodic-image search covers), the capacity (image
range) is increased and the whole chunk is recomputed from its start state, so no step
ever uses a truncated graph.

Unphysical dynamics stop the run with :class:`UnstableDynamicsError` (a poorly trained
potential lets atoms fall onto each other): two atoms closer than ``min_distance`` (default
``MIN_PAIR_DISTANCE_NM``), a neighbour count grown beyond ``MAX_NEIGHBOR_GROWTH`` times the
count at the start of the run (instead of growing the graph without end), or a non-finite
position, momentum, force or energy in a chunk. The error names the steps, and ``label`` (the
caller's state point, e.g. "hcp elastic 323 K") when given.
"""
import logging
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tifusion.md.state import (build_neighbors, choose_images, default_capacity_for, evaluate, kinetic_tensor,
                              max_neighbor_count)
from tifusion.runtime import Progress

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_STEPS = 1000  # steps per jitted call when chunk_frames is not given (an overflow redoes one)
# Melting, thermal expansion and 10 GPa compression change the densest neighbourhood by tens of
# per cent; twice the starting count only happens when atoms fall onto each other.
MAX_NEIGHBOR_GROWTH = 2.0
# Nuclei closer than 1 A: far inside any interatomic repulsion (Ti-Ti pairs in the 2400 K melt stay beyond ~2 A).
MIN_PAIR_DISTANCE_NM = 0.1


class UnstableDynamicsError(RuntimeError):
    """The trajectory left physical configurations (atoms collapsing): the potential is not usable there."""


class Frames(NamedTuple):
    """What a run records every ``frame_interval`` steps (leading axis: frames)."""

    step: jax.Array  # [F] step count of the state recorded
    positions: jax.Array  # [F, N, 3] nm, unwrapped
    momenta: jax.Array  # [F, N, 3] u nm/ps
    box: jax.Array  # [F, 3, 3] nm
    kinetic: jax.Array  # [F, 3, 3] K = sum p p^T / m, kJ/mol
    energy: jax.Array  # [F] potential energy, kJ/mol
    virial: jax.Array  # [F, 3, 3] W = -dU/d(eps), kJ/mol


def record(state, mass):
    return Frames(state.step, state.positions, state.momenta, state.box, kinetic_tensor(state.momenta, mass),
                  state.energy, state.virial)


@partial(jax.jit, static_argnames=("step_fn", "potential", "n_frames", "frame_interval", "capacity", "n_images",
                                   "skin"))
def _run_chunk(step_fn, potential, params, settings, state, n_frames, frame_interval, capacity, n_images, skin):
    def evaluate_fn(positions, box, neighbors):
        return evaluate(potential, params, positions, box, neighbors, capacity, n_images, skin)

    def one_step(carry, _):
        state, neighbors, max_neighbors, images_ok, min_distance, finite = carry
        state, neighbors, ev = step_fn(settings, state, neighbors, evaluate_fn)
        finite = finite & jnp.isfinite(ev.energy) & jnp.all(jnp.isfinite(ev.forces)) \
            & jnp.all(jnp.isfinite(state.positions)) & jnp.all(jnp.isfinite(state.momenta))
        return (state, neighbors, jnp.maximum(max_neighbors, ev.max_neighbors), images_ok & ev.images_ok,
                jnp.minimum(min_distance, ev.min_distance), finite), None

    def one_frame(carry, _):
        carry, _ = jax.lax.scan(one_step, carry, None, length=frame_interval)
        return carry, record(carry[0], settings.mass)

    neighbors = build_neighbors(state.positions, state.box, potential.cutoff, skin, capacity, n_images)
    carry = (state, neighbors, neighbors.graph.max_neighbors, jnp.ones((), bool),
             jnp.asarray(jnp.inf, state.positions.dtype), jnp.ones((), bool))
    (state, _, max_neighbors, images_ok, min_distance, finite), frames = jax.lax.scan(one_frame, carry, None,
                                                                                      length=n_frames)
    return state, max_neighbors, images_ok, min_distance, finite, frames


def grown_capacity(capacity, max_neighbors):
    """New slot count after an overflow: 10 % above the largest count seen, and at least 4 more slots."""
    return max(int(np.ceil(1.1 * max_neighbors)) + 1, capacity + 4)


def run(step_fn, settings, potential, params, state, n_steps, frame_interval, chunk_frames=None, skin=0.0,
        min_distance=MIN_PAIR_DISTANCE_NM, label=""):
    """Advance ``state`` by ``n_steps``, recording a frame every ``frame_interval`` steps.

    ``skin`` (nm, static) enables neighbour-list reuse (see the module docstring); the
    state's capacity then counts neighbours within cutoff + skin, and is raised before the
    first chunk if the current positions already need more.

    Returns (final state, :class:`Frames` with n_steps // frame_interval frames; None for
    n_steps = 0). The final state carries the (possibly grown) capacity, so a continued run
    starts with it.
    """
    n_steps, frame_interval = int(n_steps), int(frame_interval)
    if frame_interval < 1 or n_steps < 0 or n_steps % frame_interval:
        raise ValueError(f"n_steps ({n_steps}) must be a non-negative multiple of frame_interval ({frame_interval})")
    n_frames = n_steps // frame_interval
    if chunk_frames is None:
        chunk_frames = max(1, DEFAULT_CHUNK_STEPS // frame_interval)
    skin = float(skin)
    if skin < 0:
        raise ValueError(f"skin must be >= 0 nm, got {skin}")
    start_count = max_neighbor_count(np.asarray(state.positions), np.asarray(state.box), potential.cutoff + skin)
    if skin > 0 and n_frames and start_count > int(state.capacity):  # so a continued run keeps its capacity
        state = state._replace(capacity=jnp.asarray(default_capacity_for(start_count), state.capacity.dtype))
    chunks, done, images, margin = [], 0, None, 0.05
    progress = Progress(label or f"{potential.name} MD", n_steps)
    while done < n_frames:
        n = min(int(chunk_frames), n_frames - done)
        capacity = int(state.capacity)
        images = choose_images(np.asarray(state.box), potential.cutoff + skin, images, margin)
        new_state, max_neighbors, images_ok, closest, finite, frames = _run_chunk(
            step_fn, potential, params, settings, state, n, frame_interval, capacity, images[0], skin)
        first, last = int(state.step) + 1, int(state.step) + n * frame_interval
        where = f"{label + ': ' if label else ''}{potential.name}"
        if int(max_neighbors) > capacity:  # (a truncated graph makes the energy NaN: recomputed, not an error)
            if int(max_neighbors) > MAX_NEIGHBOR_GROWTH * start_count:
                raise UnstableDynamicsError(
                    f"{where}: the neighbour count within {potential.cutoff + skin:g} nm grew from "
                    f"{start_count} to {int(max_neighbors)} in steps {first}-{last}: atoms are collapsing onto "
                    f"each other; the potential is not usable at this state point (train it better)")
            new_capacity = grown_capacity(capacity, int(max_neighbors))
            logger.warning("neighbour graph overflowed in steps %d-%d (%d neighbours > capacity %d): "
                           "recomputing the chunk with capacity %d", first, last, int(max_neighbors), capacity,
                           new_capacity)
            state = state._replace(capacity=jnp.asarray(new_capacity, dtype=state.capacity.dtype))
            continue
        if not bool(finite):
            raise UnstableDynamicsError(
                f"{where}: a position, momentum, force or energy became NaN or infinite in steps {first}-{last}; "
                "the potential is not usable at this state point")
        if float(closest) < min_distance:
            raise UnstableDynamicsError(
                f"{where}: two atoms came within {float(closest):.3g} nm (< {min_distance:g} nm) in steps "
                f"{first}-{last}: atoms are collapsing onto each other; the potential is not usable at this state "
                f"point (train it better)")
        if not bool(images_ok):
            margin *= 2
            if margin > 0.5:
                raise RuntimeError(f"the box changed by more than half its width within steps {first}-{last}")
            logger.warning("box shrank below the periodic-image range %s in steps %d-%d: recomputing the "
                           "chunk with a %.0f %% margin", images[0], first, last, 100 * margin)
            images = None
            continue
        state = new_state
        chunks.append(frames)
        done += n
        progress.done(done * frame_interval)
    if not chunks:
        return state, None
    return state, jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *chunks)
