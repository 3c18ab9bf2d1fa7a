"""An ASE calculator for any :class:`~tifusion.potential.Potential` (reference EAM or learned model).

ASE units and conventions at the edge: energy eV, forces eV/Angstrom, stress eV/Angstrom^3 in
Voigt order (xx, yy, zz, yz, xz, xy) with ASE's sign, sigma = (1/V) dE/d(eps): positive under
tension, negative under compression (the negative of the pressure tensor). Internally the
potential works in nm and kJ/mol and gives the virial W = -dE/d(eps), so sigma = -W / V.

The neighbour graph is rebuilt at every call with explicit periodic images
(:func:`~tifusion.graph.image_range`), so small cells such as phonopy's or a primitive cell
are exact. Graph building and the energy, forces and virial run in one jitted function
(:func:`evaluate`, shared by all instances) that is recompiled only for a new potential or
when a static shape changes: the number of atoms, the neighbour capacity or the number of
images. A truncated graph is never used: with a fixed ``capacity`` it is an
error, otherwise the capacity grows and the call is repeated. The potential is a static jit
argument: its fields must be hashable.
"""
import math
from functools import partial

import jax
import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from tifusion.graph import build_graph, count_max_neighbors, image_range
from tifusion.potential import energy_forces_virial
from tifusion.units import ANGSTROM, EV, EV_PER_ANGSTROM

CAPACITY_MARGIN = 1.15  # headroom for auto-sized capacities: displaced atoms do not force a recompile


@partial(jax.jit, static_argnames=("potential", "capacity", "n_images"))
def evaluate(potential, params, positions, box, capacity, n_images):
    """Energy, forces, virial (internal units) and the largest neighbour count, graph built inside.

    Compiled once per potential and static shape, shared by every calculator instance.
    """
    graph = build_graph(positions, box, potential.cutoff, capacity, n_images)
    e, forces, virial = energy_forces_virial(potential, params, positions, box, graph)
    return e, forces, virial, graph.max_neighbors


class PotentialCalculator(Calculator):
    """ASE calculator for ``potential`` with parameters ``params``, for structures of ``element``.

    ``capacity``: neighbour slots per atom; None sizes it from the first structure (with a
    margin) and grows it when a structure needs more.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, potential, params, capacity=None, element="Ti", **kwargs):
        super().__init__(**kwargs)
        if capacity is not None and capacity < 1:
            raise ValueError(f"capacity must be a positive number of neighbour slots, got {capacity}")
        self.potential = potential
        self.params = params
        self.element = element
        self.fixed_capacity = capacity is not None
        self.capacity = capacity

    def _check(self, atoms):
        if not all(atoms.pbc):
            raise ValueError(f"PotentialCalculator needs a fully periodic cell, got pbc = {list(atoms.pbc)}")
        others = sorted(set(atoms.get_chemical_symbols()) - {self.element})
        if others:
            raise ValueError(f"PotentialCalculator for {self.potential.name} handles {self.element} only, "
                             f"got {others}")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self._check(self.atoms)
        positions = np.asarray(self.atoms.positions, dtype=np.float64) * ANGSTROM
        box = np.asarray(self.atoms.cell.array, dtype=np.float64).T * ANGSTROM
        n_images = image_range(box, self.potential.cutoff)
        if self.capacity is None:
            self.capacity = self._sized_capacity(positions, box)
        e, forces, virial, max_neighbors = self._evaluate(positions, box, n_images)
        if int(max_neighbors) > self.capacity:
            if self.fixed_capacity:
                raise RuntimeError(f"PotentialCalculator: an atom has {int(max_neighbors)} neighbours within "
                                   f"{self.potential.cutoff} nm, more than capacity={self.capacity}")
            self.capacity = self._sized_capacity(positions, box)
            e, forces, virial, max_neighbors = self._evaluate(positions, box, n_images)
        volume = abs(np.linalg.det(box))
        stress = -np.asarray(virial, dtype=np.float64) / volume  # kJ/mol/nm^3, tension positive
        energy = float(e) / EV
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["forces"] = np.asarray(forces, dtype=np.float64) / EV_PER_ANGSTROM
        self.results["stress"] = full_3x3_to_voigt_6_stress(stress * ANGSTROM**3 / EV)

    def _evaluate(self, positions, box, n_images):
        return evaluate(self.potential, self.params, positions, box, self.capacity, n_images)

    def _sized_capacity(self, positions, box):
        count = count_max_neighbors(positions, box, self.potential.cutoff)
        return max(1, math.ceil(CAPACITY_MARGIN * count))
