"""Zero-temperature properties of any :class:`~tifusion.potential.Potential`.

- :func:`relax`: minimise the energy over atom positions and (optionally) the cell, to zero
  forces and zero stress.
- :func:`relax_hcp`, :func:`relax_cubic`: lattice constants and energy per atom of hcp, bcc, fcc;
  :func:`hcp_zero_kelvin`: relaxed hcp and its elastic constants in one call (the
  ``static_elastic`` table: does a model reproduce its teacher's elastic response?).
- :func:`elastic_tensor`: the 6x6 Voigt elastic tensor at a relaxed (force- and stress-free)
  state, clamped-ion or relaxed-ion. Both come from one autodiff Hessian of the energy in the
  atom displacements u and the Voigt strain e:

      C_clamped = (1/V) d2E/de de
      C_relaxed = C_clamped - (1/V) Lambda Phi^-1 Lambda^T,  Lambda = d2E/de du,  Phi = d2E/du du

  (the ions follow the strain to first order, u = -Phi^-1 Lambda^T e). One atom is held
  fixed to remove the three translations from Phi, which is exact because Lambda sums to
  zero over atoms. The formula is exact for homogeneous strain in any periodic cell, so the
  primitive cell suffices (2 atoms for hcp).

Voigt order xx, yy, zz, yz, xz, xy with engineering shears: eps_yz = e4 / 2 etc. Internal
units throughout (kJ/mol/nm^3); :func:`hexagonal_constants_gpa` and
:func:`cubic_constants_gpa` read the independent constants out in GPa.

The potential is a static argument of the jitted kernels: its fields must be hashable, and
equal potentials (same functions, name and cutoff) share compiled code.
"""
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from tifusion.graph import build_graph, image_range
from tifusion.potential import energy, energy_forces_virial
from tifusion.structures import bcc_cubic, fcc_cubic, hcp_supercell
from tifusion.units import GPA


class Relaxed(NamedTuple):
    positions: np.ndarray  # [N, 3] nm
    box: np.ndarray  # [3, 3] nm, columns = lattice vectors
    energy: float  # kJ/mol
    max_force: float  # kJ/mol/nm, at the returned state
    max_stress: float  # kJ/mol/nm^3, at the returned state


def voigt_to_strain(e):
    """Symmetric 3x3 strain from a Voigt vector with engineering shears."""
    return jnp.array([[e[0], e[5] / 2, e[4] / 2], [e[5] / 2, e[1], e[3] / 2], [e[4] / 2, e[3] / 2, e[2]]])


CAPACITY_QUANTUM = 8  # capacities are rounded up to this, so nearby states share one compiled shape


@partial(jax.jit, static_argnames=("cutoff", "capacity", "n_images"))
def _build_graph(positions, box, cutoff, capacity, n_images):
    return build_graph(positions, box, cutoff, capacity, n_images)


def complete_graph(potential, positions, box):
    """A graph holding every neighbour within the cutoff (capacity sized to fit, explicit images)."""
    positions, box = jnp.asarray(positions), jnp.asarray(box)
    n_images = image_range(box, potential.cutoff)
    count = int(_build_graph(positions, box, potential.cutoff, 1, n_images).max_neighbors)
    capacity = CAPACITY_QUANTUM * max(1, -(-count // CAPACITY_QUANTUM))
    return _build_graph(positions, box, potential.cutoff, capacity, n_images)


_energy_forces_virial = jax.jit(energy_forces_virial, static_argnums=0)


def forces_and_stress(potential, params, positions, box):
    """Energy (kJ/mol), forces [N, 3] (kJ/mol/nm), stress sigma = -W/V [3, 3] (kJ/mol/nm^3)."""
    positions, box = jnp.asarray(positions), jnp.asarray(box)
    graph = complete_graph(potential, positions, box)
    e, f, w = _energy_forces_virial(potential, params, positions, box, graph)
    return float(e), np.asarray(f), -np.asarray(w) / abs(float(jnp.linalg.det(box)))


def energy_per_atom(potential, params, positions, box):
    """Energy per atom in kJ/mol."""
    e, _, _ = forces_and_stress(potential, params, positions, box)
    return e / len(positions)


@partial(jax.jit, static_argnums=(0, 5))
@partial(jax.value_and_grad, argnums=2)
def _relax_value_and_grad(potential, params, x, box, graph, relax_cell):
    """Energy and gradient in x = (fractional positions, Voigt strain of the cell if relax_cell)."""
    n = graph.idx.shape[0] * 3
    strain = voigt_to_strain(x[n:]) if relax_cell else None
    return energy(potential, params, x[:n].reshape(-1, 3) @ box.T, box, graph, strain)


def relax(potential, params, positions, box, relax_cell=True, fmax=1e-4, smax=1e-3, max_rounds=10):
    """Minimise the energy over positions (and the cell, by a symmetric strain) with L-BFGS.

    Converged when the largest force component is below ``fmax`` (kJ/mol/nm; 1e-4 is
    1e-6 eV/Angstrom) and, if ``relax_cell``, the largest stress component below ``smax``
    (kJ/mol/nm^3; 1e-3 is 1.7 kPa). Each round rebuilds the graph at the current state and
    minimises with it fixed, until a round starts converged. Raises RuntimeError otherwise, or
    as soon as the cell volume leaves (1/2, 2) times the start: the structure has no minimum
    near the start (an untrained model's cell collapses or blows up, and the next graph with it).
    """
    positions = np.asarray(positions, dtype=np.float64)
    box = np.asarray(box, dtype=np.float64)
    n_atoms = len(positions)
    start_volume = abs(np.linalg.det(box))
    for _ in range(max_rounds):
        graph = complete_graph(potential, positions, box)
        e0, forces, virial = _energy_forces_virial(potential, params, jnp.asarray(positions), jnp.asarray(box), graph)
        max_force = float(jnp.abs(forces).max())
        max_stress = float(jnp.abs(virial).max()) / abs(np.linalg.det(box)) if relax_cell else 0.0
        if max_force < fmax and max_stress < smax:
            return Relaxed(positions, box, float(e0), max_force, max_stress)
        frac0 = np.linalg.solve(box, positions.T).T

        def fun(x):
            v, g = _relax_value_and_grad(potential, params, jnp.asarray(x), jnp.asarray(box), graph, relax_cell)
            return float(v), np.asarray(g, dtype=np.float64)

        x0 = np.concatenate([frac0.ravel(), np.zeros(6 if relax_cell else 0)])
        result = scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B",
                                         options=dict(maxiter=10000, ftol=0.0, gtol=1e-12, maxcor=30))
        frac = result.x[: 3 * n_atoms].reshape(n_atoms, 3)
        deformation = np.eye(3) + (np.asarray(voigt_to_strain(result.x[3 * n_atoms :])) if relax_cell else 0.0)
        box = deformation @ box
        positions = frac @ box.T
        volume_ratio = abs(np.linalg.det(box)) / start_volume
        if not 0.5 < volume_ratio < 2.0:
            raise RuntimeError(f"relax: the cell volume went to {volume_ratio:.3g} times the start for "
                               f"{potential.name}: no minimum near the starting structure")
    raise RuntimeError(f"relax: not converged after {max_rounds} rounds for {potential.name}: "
                       f"max force {max_force:.3g} kJ/mol/nm (fmax {fmax}), "
                       f"max stress {max_stress:.3g} kJ/mol/nm^3 (smax {smax})")


def relax_hcp(potential, params, a, c, **relax_options):
    """Relaxed hcp in its 2-atom primitive cell from a starting guess (a, c in nm).

    Returns a dict: a, c (nm), c_over_a, energy_per_atom (kJ/mol), positions, box.
    """
    state = relax(potential, params, *hcp_supercell(a, c, (1, 1, 1)), **relax_options)
    a1, a2, a3 = np.linalg.norm(state.box, axis=0)
    return dict(a=0.5 * (a1 + a2), c=a3, c_over_a=2 * a3 / (a1 + a2), energy_per_atom=state.energy / 2,
                positions=state.positions, box=state.box)


def relax_cubic(potential, params, structure, a, **relax_options):
    """Relaxed bcc or fcc (conventional cubic cell) from a starting lattice constant a (nm).

    Returns a dict: a (nm), energy_per_atom (kJ/mol), positions, box.
    """
    builders = {"bcc": bcc_cubic, "fcc": fcc_cubic}
    if structure not in builders:
        raise ValueError(f"structure must be one of {sorted(builders)}, got {structure!r}")
    positions, box = builders[structure](a)
    state = relax(potential, params, positions, box, **relax_options)
    return dict(a=float(np.cbrt(abs(np.linalg.det(state.box)))), energy_per_atom=state.energy / len(positions),
                positions=state.positions, box=state.box)


@partial(jax.jit, static_argnums=0)
@partial(jax.hessian, argnums=5)
def _displacement_strain_hessian(potential, params, positions, box, graph, x):
    """Hessian of the energy in x = (atom displacements [3N], Voigt strain [6]) at x."""
    n = positions.size
    return energy(potential, params, positions + x[:n].reshape(-1, 3), box, graph, voigt_to_strain(x[n:]))


def elastic_tensor(potential, params, positions, box, relaxed_ions=True, fmax=1e-2, smax=0.5):
    """6x6 Voigt elastic tensor (kJ/mol/nm^3) at a force- and stress-free state.

    The second strain derivative of the energy is the stress-strain coefficient only at zero
    stress, and the relaxed-ion formula assumes zero forces: a state with a force component
    above ``fmax`` (kJ/mol/nm) or a stress component above ``smax`` (kJ/mol/nm^3, 0.5 is
    0.8 MPa) is refused; relax it first.
    """
    positions = jnp.asarray(positions, dtype=jnp.float64)
    box = jnp.asarray(box, dtype=jnp.float64)
    _, forces, stress = forces_and_stress(potential, params, positions, box)
    if np.abs(forces).max() > fmax or np.abs(stress).max() > smax:
        raise ValueError(f"elastic_tensor needs a relaxed state: max force {np.abs(forces).max():.3g} kJ/mol/nm "
                         f"(fmax {fmax}), max stress {np.abs(stress).max():.3g} kJ/mol/nm^3 (smax {smax})")
    graph = complete_graph(potential, positions, box)
    n = 3 * len(positions)
    hessian = np.asarray(_displacement_strain_hessian(potential, params, positions, box, graph, jnp.zeros(n + 6)))
    c = hessian[n:, n:]
    if relaxed_ions and n > 3:
        phi = hessian[3:n, 3:n]  # atom 0 held fixed: removes the translations
        coupling = hessian[3:n, n:]
        if np.linalg.eigvalsh(phi).min() <= 0:
            raise ValueError("elastic_tensor: the internal force constants are not positive definite "
                             "(the structure is unstable against an internal displacement)")
        c = c - coupling.T @ np.linalg.solve(phi, coupling)
    return 0.5 * (c + c.T) / abs(float(jnp.linalg.det(box)))


def hcp_zero_kelvin(potential, params, a_guess, c_guess):
    """Static (0 K) hcp of a potential: relaxed a, c (nm), c/a and relaxed-ion C11..C66 (GPa).

    The 2-atom cell is relaxed from (``a_guess``, ``c_guess``) with :func:`relax`'s tolerances, then
    :func:`elastic_tensor` (relaxed ions) is read out by :func:`hexagonal_constants_gpa`. Evaluate a
    float32 model in float64 (the same function): in float32 the relaxation stalls at stresses of
    0.2-5 kJ/mol/nm^3, where the energy change is below float32 resolution (default models).
    """
    relaxed = relax_hcp(potential, params, a_guess, c_guess)
    tensor = elastic_tensor(potential, params, relaxed["positions"], relaxed["box"])
    return {"a": relaxed["a"], "c": relaxed["c"], "c_over_a": relaxed["c_over_a"], **hexagonal_constants_gpa(tensor)}


def hexagonal_constants_gpa(c):
    """C11, C12, C13, C33, C44, C66 in GPa (c axis along z), averaging symmetry-equal entries."""
    c = np.asarray(c) / GPA
    return dict(C11=(c[0, 0] + c[1, 1]) / 2, C12=c[0, 1], C13=(c[0, 2] + c[1, 2]) / 2, C33=c[2, 2],
                C44=(c[3, 3] + c[4, 4]) / 2, C66=c[5, 5])


def cubic_constants_gpa(c):
    """C11, C12, C44 in GPa (cube axes along x, y, z), averaging symmetry-equal entries."""
    c = np.asarray(c) / GPA
    return dict(C11=np.trace(c[:3, :3]) / 3, C12=(c[0, 1] + c[0, 2] + c[1, 2]) / 3, C44=np.trace(c[3:, 3:]) / 3)
