"""Harmonic phonons of hcp titanium for any :class:`~tifusion.potential.Potential`, with phonopy.

Protocol of the paper (docs/method.md §7): the 2-atom hcp primitive cell at given
lattice constants (by default the potential's own relaxed 0 K lattice), a 5x5x3 supercell,
finite displacements of 0.01 Angstrom, forces from the potential. From the force constants:
the dispersion along Gamma-M-K-Gamma-A and the density of states on a q-point mesh.

Units. Everything passed in and out of this module's functions is in the internal units
(nm, kJ/mol, u) except the phonon output: frequencies in THz (= 1/ps, the internal
frequency unit) and wavevectors in 1/nm. phonopy itself works in eV, Angstrom and amu
(its default "VASP" units, frequencies in THz); the conversion happens only where
structures go into phonopy and forces come back (:func:`hcp_phonopy`).

Wavevectors: the path coordinate is the cumulative length of the wavevector k *with* the
2 pi (k = 2 pi / wavelength), in 1/nm. Near Gamma an acoustic branch is then
nu = v |k| / (2 pi), with v the sound velocity in nm/ps (= km/s). (phonopy's own band
"distances" are |k| / (2 pi) in 1/Angstrom.)

Frequencies of unstable modes (negative eigenvalues) are returned as negative numbers,
phonopy's convention.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from phonopy import Phonopy
from phonopy.structure.atoms import PhonopyAtoms

from tifusion.data.experiment import load_hcp_experiment
from tifusion.graph import build_graph, count_max_neighbors, image_range, overflowed
from tifusion.potential import energy_and_forces
from tifusion.properties.static import relax_hcp
from tifusion.structures import HCP_BASIS, hcp_primitive_cell
from tifusion.units import ANGSTROM, EV_PER_ANGSTROM, MASS_TI

PAPER_SUPERCELL = (5, 5, 3)
PAPER_DISPLACEMENT = 0.01 * ANGSTROM  # nm
CAPACITY_MARGIN = 1.1  # neighbour slots beyond the perfect crystal's count (displaced atoms)

# High-symmetry points of the hexagonal Brillouin zone in the reciprocal basis of
# hcp_primitive_cell (a1, a2 at 120 degrees): |M| = 2 pi / (sqrt(3) a), |K| = 4 pi / (3 a), |A| = pi / c.
HIGH_SYMMETRY_POINTS = {
    "Gamma": (0.0, 0.0, 0.0),
    "M": (0.5, 0.0, 0.0),
    "K": (1 / 3, 1 / 3, 0.0),
    "A": (0.0, 0.0, 0.5),
}
PAPER_PATH = ("Gamma", "M", "K", "Gamma", "A")


class BandStructure(NamedTuple):
    distances: np.ndarray  # [Q] cumulative |k| along the path (k with 2 pi), 1/nm
    frequencies: np.ndarray  # [Q, 3 n_basis] THz, ascending per q-point
    qpoints: np.ndarray  # [Q, 3] reduced coordinates (reciprocal basis of the primitive cell)
    labels: tuple  # names of the path's corners, e.g. ("Gamma", "M", "K", "Gamma", "A")
    label_distances: np.ndarray  # [len(labels)] path coordinate of each corner, 1/nm


class DensityOfStates(NamedTuple):
    frequencies: np.ndarray  # [F] THz
    dos: np.ndarray  # [F] states per THz per primitive cell; integrates to 3 n_basis


class Phonons(NamedTuple):
    a: float  # nm
    c: float  # nm
    bands: BandStructure
    dos: DensityOfStates


def experimental_lattice(temperature=298.0):
    """Experimental hcp (a, c) in nm at ``temperature`` (K), from src/tifusion/data/experimental.

    298 K is the table row nearest to the 295 K of the neutron data (Stassis 1979).
    """
    table = load_hcp_experiment()
    match = np.isclose(table["temperature_K"].to_numpy(dtype=float), float(temperature), rtol=0.0, atol=1e-6)
    if not match.any():
        raise ValueError(f"no experimental hcp lattice at T = {temperature} K in {table.attrs['source_file']}; "
                         f"available: {table['temperature_K'].tolist()}")
    row = table[match].iloc[0]
    return float(row["a_angstrom"]) * ANGSTROM, float(row["c_angstrom"]) * ANGSTROM


def relaxed_lattice(potential, params, a_guess=0.295, c_guess=0.468):
    """The potential's own 0 K hcp (a, c) in nm (internal coordinate fixed by symmetry)."""
    state = relax_hcp(potential, params, a_guess, c_guess)
    return state["a"], state["c"]


def supercell_forces(potential, params, positions, box, capacity=None):
    """Forces [B, N, 3] (kJ/mol/nm) of a batch of configurations [B, N, 3] (nm) in one ``box``.

    One jitted, vmapped call; each configuration gets its own neighbour graph with explicit
    periodic images, so cells narrower than twice the cutoff are exact. ``capacity`` defaults
    to the largest neighbour count of the first configuration plus a margin; a graph that
    overflows it is an error, never silently truncated.
    """
    positions = jnp.asarray(positions)
    box = jnp.asarray(box, dtype=positions.dtype)
    if positions.ndim != 3 or positions.shape[-1] != 3:
        raise ValueError(f"supercell_forces expects positions of shape [B, N, 3], got {positions.shape}")
    n_images = image_range(np.asarray(box), potential.cutoff)
    if capacity is None:
        count = count_max_neighbors(np.asarray(positions[0]), np.asarray(box), potential.cutoff)
        capacity = max(1, int(np.ceil(CAPACITY_MARGIN * count)))

    def one(r):
        graph = build_graph(r, box, potential.cutoff, capacity, n_images)
        _, forces = energy_and_forces(potential, params, r, box, graph)
        return forces, overflowed(graph)

    forces, lost = jax.jit(jax.vmap(one))(positions)
    if bool(jnp.any(lost)):
        raise RuntimeError(f"supercell_forces: a displaced supercell has more neighbours within "
                           f"{potential.cutoff} nm than capacity={capacity}; pass a larger capacity")
    return np.asarray(forces, dtype=np.float64)


def hcp_unit_cell(a, c):
    """The 2-atom hcp primitive cell as PhonopyAtoms (Angstrom, rows = lattice vectors, amu)."""
    return PhonopyAtoms(symbols=["Ti", "Ti"], cell=hcp_primitive_cell(a, c).T / ANGSTROM,
                        scaled_positions=HCP_BASIS, masses=[MASS_TI, MASS_TI])


def hcp_phonopy(potential, params, a, c, supercell=PAPER_SUPERCELL, displacement=PAPER_DISPLACEMENT):
    """A Phonopy object with force constants of hcp at (a, c) (nm) from ``potential``.

    ``supercell``: repeats of the primitive cell; ``displacement`` in nm (0.01 Angstrom by
    default). The symmetry-distinct displaced supercells are evaluated in one batch.
    """
    for name, value in (("a", a), ("c", c), ("displacement", displacement)):
        if not (np.isfinite(value) and 0 < value < 1.0):
            raise ValueError(f"hcp_phonopy: {name} must be a positive length in nm, got {value}")
    supercell = tuple(int(n) for n in supercell)
    if len(supercell) != 3 or min(supercell) < 1:
        raise ValueError(f"hcp_phonopy: supercell must be three positive integers, got {supercell}")
    phonon = Phonopy(hcp_unit_cell(a, c), supercell_matrix=np.diag(supercell), primitive_matrix=None)
    phonon.generate_displacements(distance=displacement / ANGSTROM)
    cells = phonon.supercells_with_displacements
    box = cells[0].cell.T * ANGSTROM  # phonopy supercells share one cell; jax-md column convention
    positions = np.stack([cell.positions for cell in cells]) * ANGSTROM
    forces = supercell_forces(potential, params, positions, box)
    phonon.forces = forces / EV_PER_ANGSTROM
    phonon.produce_force_constants(show_drift=False)
    return phonon


def frequencies_at(phonon, qpoints):
    """Frequencies [Q, 3 n_basis] in THz at reduced q-points [Q, 3]."""
    qpoints = np.atleast_2d(np.asarray(qpoints, dtype=np.float64))
    return np.array(phonon.run_qpoints(qpoints).frequencies)


def _reciprocal_lattice(phonon):
    """Reciprocal basis vectors as columns, with 2 pi, in 1/nm."""
    cell = phonon.primitive.cell * ANGSTROM  # rows = lattice vectors, nm
    return 2 * np.pi * np.linalg.inv(cell)


def band_structure(phonon, path=PAPER_PATH, points_per_segment=51):
    """Dispersion along straight segments between the named corners of ``path``."""
    unknown = [name for name in path if name not in HIGH_SYMMETRY_POINTS]
    if unknown or len(path) < 2:
        raise ValueError(f"band_structure: path must name at least two of {sorted(HIGH_SYMMETRY_POINTS)}, "
                         f"got {path}")
    corners = [np.array(HIGH_SYMMETRY_POINTS[name]) for name in path]
    fractions = np.linspace(0.0, 1.0, points_per_segment)[:, None]
    segments = [start + fractions * (end - start) for start, end in zip(corners[:-1], corners[1:])]
    frequencies = np.concatenate(phonon.run_band_structure(segments, labels=list(path)).frequencies)
    qpoints = np.concatenate(segments)
    # Path length in k (with 2 pi); each segment starts where the previous one ended.
    reciprocal = _reciprocal_lattice(phonon)
    steps = np.concatenate([
        np.concatenate([[0.0], np.linalg.norm(np.diff(segment, axis=0) @ reciprocal.T, axis=1)])
        for segment in segments
    ])
    distances = np.cumsum(steps)
    ends = np.cumsum([len(segment) for segment in segments]) - 1
    label_distances = np.concatenate([[0.0], distances[ends]])
    return BandStructure(distances, frequencies, qpoints, tuple(path), label_distances)


def density_of_states(phonon, mesh=(24, 24, 15), frequency_pitch=0.05):
    """Total DOS on a Gamma-centred ``mesh`` with the tetrahedron method (THz, states/THz/cell)."""
    phonon.run_mesh(list(mesh), is_gamma_center=True)
    dos = phonon.run_total_dos(freq_pitch=frequency_pitch, use_tetrahedron_method=True)
    return DensityOfStates(np.array(dos.frequency_points), np.array(dos.dos))


def hcp_phonons(potential, params, lattice=None, supercell=PAPER_SUPERCELL, displacement=PAPER_DISPLACEMENT,
                path=PAPER_PATH, points_per_segment=51, mesh=(24, 24, 15)):
    """Dispersion and DOS of hcp for ``potential``.

    ``lattice``: None for the potential's relaxed 0 K lattice, or (a, c) in nm (e.g. from
    :func:`experimental_lattice`).
    """
    a, c = relaxed_lattice(potential, params) if lattice is None else (float(lattice[0]), float(lattice[1]))
    phonon = hcp_phonopy(potential, params, a, c, supercell, displacement)
    return Phonons(a, c, band_structure(phonon, path, points_per_segment), density_of_states(phonon, mesh))


# Where each measured direction (data.experiment.DISPERSION_DIRECTIONS) runs on a path: (from corner, to corner,
# zeta at the start, zeta at the end). [zz0] runs Gamma-K, then K-M' with M' = (1/2, 1/2, 0), a segment equivalent
# to K-M by symmetry (same length, same frequencies).
MEASURED_SEGMENTS = {"[00z]": [("Gamma", "A", 0.0, 0.5)], "[z00]": [("Gamma", "M", 0.0, 0.5)],
                     "[zz0]": [("Gamma", "K", 0.0, 1 / 3), ("K", "M", 1 / 3, 0.5)]}


def measured_path_coordinates(directions, zetas, labels, label_distances):
    """Path coordinate (the units of ``label_distances``) of measured points given by direction and reduced zeta;
    NaN where the path has no segment for them."""
    labels, corners = list(labels), np.asarray(label_distances, dtype=float)
    coordinates = np.full(len(zetas), np.nan)
    for i, (direction, zeta) in enumerate(zip(directions, zetas)):
        for start, end, zeta_start, zeta_end in MEASURED_SEGMENTS[direction]:
            if not zeta_start <= zeta <= zeta_end + 1e-9:
                continue
            for j in range(len(labels) - 1):
                pair = (labels[j], labels[j + 1])
                if pair in ((start, end), (end, start)):
                    from_x, to_x = (corners[j], corners[j + 1]) if pair[0] == start else (corners[j + 1], corners[j])
                    coordinates[i] = from_x + (zeta - zeta_start) / (zeta_end - zeta_start) * (to_x - from_x)
                    break
            if not np.isnan(coordinates[i]):
                break
    return coordinates


def dispersion_deviations(distances, frequencies, measured):
    """Per measured (direction, branch): the number of points on the path and the rms of (nearest model band -
    measured frequency), THz. ``distances``, ``frequencies``: a band structure; ``measured``: the measured table
    with a ``path_coordinate`` column (:func:`measured_path_coordinates`). The measured branches are not matched
    to the model's by eigenvector: each point is compared with the closest model frequency at its wave vector."""
    distances, frequencies = np.asarray(distances), np.asarray(frequencies)
    rows = []
    for (direction, branch), group in measured.groupby(["direction", "branch"], sort=False):
        on_path = group[np.isfinite(group["path_coordinate"])]
        residuals = []
        for x, nu in zip(on_path["path_coordinate"], on_path["nu_THz"]):
            # the path visits a corner twice (its two segments meet there): take the segment the point belongs to
            bands = [np.interp(x, *_segment_of(distances, frequencies[:, band], x))
                     for band in range(frequencies.shape[1])]
            residuals.append(min(bands, key=lambda model_nu: abs(model_nu - nu)) - nu)
        residuals = np.asarray(residuals)
        rows.append({"direction": direction, "branch": branch, "n_points": len(residuals),
                     "rms_THz": float(np.sqrt(np.mean(residuals ** 2))) if len(residuals) else np.nan})
    return rows


def _segment_of(distances, values, x):
    """(distances, values) of the stretch of the path with strictly increasing distances that contains ``x``."""
    breaks = np.flatnonzero(np.diff(distances) <= 0) + 1
    for piece in np.split(np.arange(len(distances)), breaks):
        if distances[piece[0]] <= x <= distances[piece[-1]]:
            return distances[piece], values[piece]
    return distances, values
