"""The interface every potential implements, and the derivatives built on it.

A :class:`Potential` maps the neighbour displacement vectors of a dense
:class:`~tifusion.graph.Graph` to per-atom energies. Everything else (forces, virial,
stress, Born terms, MD, properties) is written once here and in the modules that use it,
for the reference EAM and the learned DimeNet++ alike.

Sign conventions (internal units, see :mod:`tifusion.units`):

- forces F = -dU/dR;
- virial W = -dU/d(eps) at eps = 0, for the affine strain R -> (1 + eps) R,
  box -> (1 + eps) box. W is symmetric for a rotation-invariant potential and positive
  under compression: W = P_pot V (the potential part of the pressure tensor times the
  volume), the sign of the DFT ``virial.npy`` (DeePMD convention). No force term is added
  (the original code's bug B1).
- stress sigma = (1/V) dU/d(eps) = -W / V (tension positive, potential part).
"""
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from tifusion.graph import displacements


class Potential(NamedTuple):
    """A potential on dense neighbour graphs.

    ``atom_energies(params, d, graph)`` returns per-atom energies [N] in kJ/mol from the
    displacements ``d`` [N, K, 3] (nm) of ``graph``; entries of padding atoms are ignored.
    ``init(rng)`` returns initial parameters (None for a fixed potential).
    """

    name: str
    cutoff: float  # nm
    atom_energies: Callable[[Any, jax.Array, Any], jax.Array]
    init: Callable[[jax.Array], Any]


def energy(potential, params, positions, box, graph, strain=None):
    """Total energy; ``strain`` (3x3 displacement gradient) deforms positions and box affinely."""
    d = displacements(positions, box, graph)
    if strain is not None:
        d = d @ (jnp.eye(3, dtype=strain.dtype) + strain).T
    per_atom = potential.atom_energies(params, d, graph)
    return jnp.sum(jnp.where(graph.atom_mask, per_atom, 0.0))


def energy_and_forces(potential, params, positions, box, graph):
    e, grad = jax.value_and_grad(energy, argnums=2)(potential, params, positions, box, graph)
    return e, -grad


def energy_forces_virial(potential, params, positions, box, graph):
    """Energy, forces [N, 3] and virial W = -dU/d(eps) [3, 3] in one pass."""
    zero = jnp.zeros((3, 3), dtype=positions.dtype)
    e, (grad_r, grad_eps) = jax.value_and_grad(
        lambda r, eps: energy(potential, params, r, box, graph, eps), argnums=(0, 1)
    )(positions, zero)
    return e, -grad_r, -grad_eps
