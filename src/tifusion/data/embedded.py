"""The embedded DFT-like dataset: configurations labelled by the reference EAM (offline).

Stands in for the authors' DFT set where it cannot be downloaded (CI, laptops, air-gapped
nodes). Deterministic from a seed, float64, in the canonical format of
:mod:`tifusion.data.dataset`, labelled with the Zhou 2004 Ti EAM
(:func:`tifusion.reference.eam.zhou2004_ti`). It mirrors the published set
(docs/method.md §2):

type 0 (virial trained, "Init"-like), for each of hcp, bcc, fcc unless noted:
  ``perfect``        the relaxed 0 K crystal;
  ``ev_scan``        isotropic scans, linear scale factors evenly spaced in [scale_min, scale_max];
  ``voigt_strain``   hcp only: each of the 6 Voigt strains (xx, yy, zz, yz, xz, xy; shear as
                     engineering strain) at +- each magnitude;
  ``random_strain``  random symmetric strains, components uniform in +- max_strain, plus a
                     Gaussian rattle of ``rattle_nm`` per coordinate;
  ``rattle``         Gaussian rattles, per configuration sigma uniform in [min_nm, max_nm].
type 1 (energy and forces only, "Bulk"-like): Langevin MD snapshots with the teacher itself at
  each temperature of ``md.temperatures_K`` (hcp, bcc, fcc, and liquid melted from bcc at
  ``md.melt``), after equilibration, every ``md.spacing_ps``. The cell is first adapted to
  the temperature, a short thermal-expansion estimate: ``md.volume_iterations`` runs of
  ``md.equilibration_ps`` each give the mean pressure tensor P (kinetic + virial), and each
  cell axis is strained by P_ii / M_i, with M_i = 3 B (B = ``md.bulk_modulus_GPa``) at first
  and the secant dP_ii / d(eps_ii) of the previous correction afterwards (residual |P| of a few
  0.1 GPa after 3 iterations); then NVT in that cell. A "liquid" that Ackland-Jones does not
  find mostly disordered is an error.

Cells (orthogonal, wide enough for the ML cutoff 0.5 nm with minimum image): hcp 4x2x3
(96 atoms, orthogonal cell a, sqrt(3) a, c), bcc 4x4x4 (128), fcc 3x3x3 (108), at the
teacher's 0 K lattice constants; mixed atom counts are padded (``atom_mask``). Phase labels
come from the generation protocol. Configurations are shuffled once (seeded) before the
contiguous split, so that every kind appears in every split.

The defaults give 293 configurations (117 type 0, 176 type 1) in about 1 minute on 2 CPU cores.

Config keys (``generate_embedded(config)``, all optional, defaults in :data:`tifusion.data.settings.DEFAULTS`; an
unknown key is an error; a phase is left out of the MD by an empty temperature list):
``lattice_nm.{hcp_a, hcp_c, bcc_a, fcc_a}``, ``repeat.{hcp, bcc, fcc}``, ``perfect.count``,
``ev_scan.{points, scale_min, scale_max}``, ``voigt_strain.magnitudes``,
``random_strain.{count, max_strain, rattle_nm}``, ``rattle.{count, min_nm, max_nm}``,
``md.{timestep_ps, friction_per_ps, equilibration_ps, volume_iterations, bulk_modulus_GPa,
spacing_ps, snapshots, skin_nm, temperatures_K.{hcp, bcc, fcc, liquid}, melt.{temperature_K,
duration_ps}}``.
"""
import functools
import logging
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax_md import simulate, space

from tifusion import structures, units
from tifusion.data.dataset import TYPE_ENERGY_FORCES, TYPE_VIRIAL, Dataset, contiguous_split, validate
from tifusion.data.settings import CRYSTALS, merged_config
from tifusion.data.structure_type import STRUCTURES, atom_structures
from tifusion.graph import Graph, perpendicular_widths
from tifusion.potential import energy, energy_forces_virial
from tifusion.reference.eam import zhou2004_ti

log = logging.getLogger(__name__)

_CAPACITY_STEP = 16  # capacities are rounded up to this, so few shapes compile
_PIECE_STEPS = 10  # MD steps between checks of the graph's skin
_PRESSURE_SAMPLES = 10  # pressure tensors averaged per thermal-expansion estimate


# ---------------------------------------------------------------- neighbour graphs and labels

def dense_graph(positions, box, cutoff, capacity=None):
    """:class:`~tifusion.graph.Graph` of all pairs within ``cutoff`` (numpy, explicit images).

    Same content as :func:`tifusion.graph.build_graph` but slots in index order instead of
    nearest first: built in numpy without XLA's top_k (which costs ~0.15 s per 128-atom cell
    with 27 images on this CPU, too slow for the hundreds of builds of MD and labelling).
    ``capacity`` None = exactly the largest count; a smaller capacity raises.
    """
    positions, box = np.asarray(positions, dtype=np.float64), np.asarray(box, dtype=np.float64)
    n_atoms = len(positions)
    frac = positions @ np.linalg.inv(box).T
    offset = np.floor(frac)
    frac = frac - offset
    reach = np.ceil(cutoff / perpendicular_widths(box)).astype(int)  # wrapped: |s_j - s_i| < 1
    shifts = np.stack(np.meshgrid(*(np.arange(-k, k + 1) for k in reach), indexing="ij"), -1).reshape(-1, 3)
    wrapped = frac @ box.T
    pair = (wrapped[None, :, :] - wrapped[:, None, :]).reshape(-1, 3)  # [N * N, 3]
    image = shifts @ box.T  # [S, 3]
    dist2 = (pair**2).sum(axis=1)[:, None] + 2 * pair @ image.T + (image**2).sum(axis=1)[None, :]
    valid = (dist2 < cutoff**2).reshape(n_atoms, -1)  # [N, N * S], column = j * S + s
    self_image = np.flatnonzero(~shifts.any(axis=1))[0]
    valid[np.arange(n_atoms), np.arange(n_atoms) * len(shifts) + self_image] = False
    rows, columns = np.nonzero(valid)  # row-major: grouped by atom i
    counts = np.bincount(rows, minlength=n_atoms)
    count = int(counts.max())
    capacity = count if capacity is None else capacity
    if count > capacity:
        raise ValueError(f"dense_graph: {count} neighbours within {cutoff} nm, capacity {capacity}")
    slots = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    j = columns // len(shifts)
    idx = np.zeros((n_atoms, capacity), dtype=np.int32)
    shift = np.zeros((n_atoms, capacity, 3))
    mask = np.zeros((n_atoms, capacity), dtype=bool)
    idx[rows, slots] = j
    shift[rows, slots] = shifts[columns % len(shifts)] - offset[j] + offset[rows]  # for unwrapped positions
    mask[rows, slots] = True
    return Graph(idx=idx, shift=shift, mask=mask, atom_mask=np.ones(n_atoms, dtype=bool),
                 max_neighbors=np.int32(count))


def rounded_capacity(count, margin=1.0):
    """``margin * count`` rounded up to a multiple of 16."""
    return _CAPACITY_STEP * math.ceil(margin * count / _CAPACITY_STEP)


def graph_with_room(positions, box, cutoff, capacity, margin):
    """(graph, capacity): the graph with ``capacity`` slots, or with a grown capacity
    (``margin`` times its largest count) when it needs more; grow rarely, each size compiles."""
    graph = dense_graph(positions, box, cutoff)
    if capacity is None or graph.max_neighbors > capacity:
        capacity = rounded_capacity(graph.max_neighbors, margin)
    pad = ((0, 0), (0, capacity - graph.idx.shape[1]))
    return graph._replace(idx=np.pad(graph.idx, pad), shift=np.pad(graph.shift, pad + ((0, 0),)),
                          mask=np.pad(graph.mask, pad)), capacity


TEACHER = zhou2004_ti()
TEACHER_LABEL = "Zhou 2004 EAM"  # how tables name the teacher
# Compiled once per process (per graph shape), shared by every call of generate_embedded.
_teacher_labels = jax.jit(lambda r, box, graph: energy_forces_virial(TEACHER, None, r, box, graph))


class _Labeller:
    """Energy, forces and virial with the teacher; one compiled function per atom count.

    Capacities grow when needed (each growth recompiles): label the densest cells first.
    """

    def __init__(self):
        self.capacity = {}  # atom count -> neighbour slots

    def __call__(self, positions, box):
        n_atoms = len(positions)
        graph, self.capacity[n_atoms] = graph_with_room(positions, box, TEACHER.cutoff, self.capacity.get(n_atoms),
                                                        margin=1.1)
        e, forces, virial = _teacher_labels(jnp.asarray(positions), jnp.asarray(box), graph)
        return float(e), np.asarray(forces), np.asarray(virial)


# ---------------------------------------------------------------- type 0: static configurations

def _crystal(phase, cfg):
    lattice, repeat = cfg["lattice_nm"], cfg["repeat"][phase]
    if phase == "hcp":
        return structures.hcp_orthogonal(lattice["hcp_a"], lattice["hcp_c"], repeat)
    if phase == "bcc":
        return structures.bcc_cubic(lattice["bcc_a"], repeat)
    return structures.fcc_cubic(lattice["fcc_a"], repeat)


def _strained(positions, box, strain):
    """Affine deformation (1 + strain) of positions and cell."""
    deformation = np.eye(3) + strain
    return positions @ deformation.T, deformation @ box


def voigt_strain(component, value):
    """Symmetric strain tensor of one Voigt component (xx, yy, zz, yz, xz, xy); shears engineering."""
    i, j = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)][component]
    strain = np.zeros((3, 3))
    strain[i, j] = strain[j, i] = value if i == j else value / 2
    return strain


def static_configurations(cfg, rng):
    """Type-0 configurations: list of (kind, phase, positions, box)."""
    out = []
    for phase in CRYSTALS:
        positions, box = _crystal(phase, cfg)
        out += [("perfect", phase, positions, box)] * cfg["perfect"]["count"]
        scan = cfg["ev_scan"]
        for scale in np.linspace(scan["scale_min"], scan["scale_max"], scan["points"]):
            out.append(("ev_scan", phase, positions * scale, box * scale))
        if phase == "hcp":
            for component in range(6):
                for magnitude in cfg["voigt_strain"]["magnitudes"]:
                    for sign in (1, -1):
                        out.append(("voigt_strain", phase,
                                    *_strained(positions, box, voigt_strain(component, sign * magnitude))))
        spec = cfg["random_strain"]
        for _ in range(spec["count"]):
            upper = np.triu(rng.uniform(-spec["max_strain"], spec["max_strain"], (3, 3)))
            r, b = _strained(positions, box, upper + np.triu(upper, 1).T)
            out.append(("random_strain", phase, r + rng.normal(0, spec["rattle_nm"], r.shape), b))
        spec = cfg["rattle"]
        for _ in range(spec["count"]):
            sigma = rng.uniform(spec["min_nm"], spec["max_nm"])
            out.append(("rattle", phase, positions + rng.normal(0, sigma, positions.shape), box))
    return out


# ---------------------------------------------------------------- type 1: MD snapshots

class Trajectory(NamedTuple):
    state: Any  # jax-md NVTLangevinState
    graph: Graph  # all pairs within cutoff + skin at ``reference``
    reference: Any  # positions [N, 3] at which ``graph`` was built


@functools.lru_cache(maxsize=None)
def _langevin_functions(dt, friction):
    """Compiled (init, piece) of BAOAB Langevin with the teacher, for a time step and friction."""
    def energy_fn(r, box, graph):
        return energy(TEACHER, None, r, box, graph)

    init_fn, step_fn = simulate.nvt_langevin(energy_fn, space.free()[1], dt, kT=1.0, gamma=friction)

    @jax.jit
    def init(key, r, box, graph, kT):
        return init_fn(key, r, mass=units.MASS_TI, kT=kT, box=box, graph=graph)

    @jax.jit
    def piece(state, box, graph, reference, kT, n_steps):
        """``n_steps`` steps on a fixed graph; also the largest distance of any atom from ``reference``."""
        def body(_, carry):
            state, moved = carry
            state = step_fn(state, box=box, graph=graph, kT=kT)
            moved = jnp.maximum(moved, jnp.max(jnp.linalg.norm(state.position - reference, axis=-1)))
            return state, moved

        return jax.lax.fori_loop(0, n_steps, body, (state, jnp.zeros((), state.position.dtype)))

    return init, piece


class TeacherMD:
    """BAOAB Langevin MD (jax-md ``nvt_langevin``) with the teacher on a skinned, reused graph.

    The graph holds all pairs within cutoff + skin of the positions it was built at and stays
    exact while no atom has moved more than skin / 2 from there. Steps run in pieces of at most
    ``_PIECE_STEPS``; a piece in which an atom moved further is redone from its start on a fresh
    graph (the state, random key included, is restored: the trajectory stays deterministic).
    """

    def __init__(self, md):
        self.dt = md["timestep_ps"]
        self.skin = md["skin_nm"]
        self.capacity = None
        self._init, self._piece = _langevin_functions(self.dt, md["friction_per_ps"])

    def _graph(self, positions, box):
        graph, self.capacity = graph_with_room(positions, box, TEACHER.cutoff + self.skin, self.capacity, margin=1.2)
        return graph

    def start(self, key, positions, box, kT):
        """A fresh trajectory with Maxwell-Boltzmann momenta at ``kT``."""
        positions = jnp.asarray(positions)
        graph = self._graph(positions, box)
        return Trajectory(self._init(key, positions, jnp.asarray(box), graph, kT), graph, positions)

    def advance(self, trajectory, box, kT, n_steps):
        """``n_steps`` Langevin steps at ``kT`` in the fixed cell ``box``."""
        state, graph, reference = trajectory
        pieces = [min(_PIECE_STEPS, n_steps - start) for start in range(0, n_steps, _PIECE_STEPS)][::-1]
        while pieces:
            steps = pieces.pop()
            new, moved = self._piece(state, box, graph, reference, kT, steps)
            if moved > self.skin / 2:  # rebuild at the start of the piece and redo it
                reference = state.position
                graph = self._graph(reference, box)
                new, moved = self._piece(state, box, graph, reference, kT, steps)
                if moved > self.skin / 2:  # too fast even from a fresh graph: shorter pieces
                    if steps == 1:
                        raise RuntimeError(f"MD: an atom moved {float(moved):.3f} nm in one step, more than "
                                           f"skin / 2 = {self.skin / 2} nm; increase md.skin_nm")
                    pieces += [steps - steps // 2, steps // 2]
                    continue
            state = new
        return Trajectory(state, graph, reference)

    def pressure_tensor(self, trajectory, box):
        """(K + W) / V with K = sum p p^T / m, in kJ/mol/nm^3, positive under compression."""
        momentum = np.asarray(trajectory.state.momentum)
        kinetic = momentum.T @ momentum / units.MASS_TI
        virial = np.asarray(_teacher_labels(trajectory.state.position, box, trajectory.graph)[2])
        return (kinetic + virial) / abs(np.linalg.det(box))

    def steps(self, duration_ps):
        return max(1, round(duration_ps / self.dt))


def md_snapshots(engine, positions, box, temperature_K, md, key, melt=False):
    """Snapshots (positions [S, N, 3], box) of Langevin MD at ``temperature_K`` after equilibration."""
    kT = units.kT(temperature_K)
    box = np.asarray(box, dtype=np.float64)
    if melt:
        key, sub = jax.random.split(key)
        hot = units.kT(md["melt"]["temperature_K"])
        run = engine.advance(engine.start(sub, positions, box, hot), box, hot, engine.steps(md["melt"]["duration_ps"]))
        positions = np.asarray(run.state.position)
    n_equilibration = engine.steps(md["equilibration_ps"])
    modulus = np.full(3, 3 * md["bulk_modulus_GPa"] * units.GPA)  # per-axis dP_ii / d(eps_ii)
    previous = None
    for _ in range(md["volume_iterations"]):
        key, sub = jax.random.split(key)
        run = engine.advance(engine.start(sub, positions, box, kT), box, kT, n_equilibration // 2)
        pressures = []
        for _ in range(_PRESSURE_SAMPLES):  # over the second half of the equilibration
            run = engine.advance(run, box, kT, max(1, n_equilibration // (2 * _PRESSURE_SAMPLES)))
            pressures.append(np.diag(engine.pressure_tensor(run, box)))
        pressure = np.mean(pressures, axis=0)
        if previous is not None:  # secant estimate from the last correction, kept near the guess
            last_pressure, last_strain = previous
            secant = (last_pressure - pressure) / np.where(last_strain != 0, last_strain, np.inf)
            modulus = np.clip(np.where(secant > 0, secant, modulus), modulus / 3, modulus * 3)
        strain = pressure / modulus
        positions, box = _strained(np.asarray(run.state.position), box, np.diag(strain))
        previous = (pressure, strain)
        log.info("%g K: mean pressure diagonal %s GPa -> cell strain %s", temperature_K,
                 np.round(pressure / units.GPA, 2), np.round(strain, 4))
    key, sub = jax.random.split(key)
    run = engine.advance(engine.start(sub, positions, box, kT), box, kT, n_equilibration)
    frames = []
    for _ in range(md["snapshots"]):
        run = engine.advance(run, box, kT, engine.steps(md["spacing_ps"]))
        frames.append(np.asarray(run.state.position))
    return np.stack(frames), box


def md_configurations(cfg, key):
    """Type-1 configurations: list of (kind, phase, positions, box)."""
    md = cfg["md"]
    engine = TeacherMD(md)
    out = []
    for phase, temperatures in md["temperatures_K"].items():
        start = _crystal("bcc" if phase == "liquid" else phase, cfg)
        for temperature in temperatures:
            key, sub = jax.random.split(key)
            frames, box = md_snapshots(engine, *start, temperature, md, sub, melt=phase == "liquid")
            out += [(f"md_{temperature:g}K", phase, frame, box) for frame in frames]
            _check_structure(phase, temperature, frames, box)
    return out


def _check_structure(phase, temperature, frames, box):
    """Log the Ackland-Jones composition of MD snapshots; a "liquid" that did not melt is an error."""
    n_frames, n_atoms = frames.shape[:2]
    codes = atom_structures(frames, np.broadcast_to(box, (n_frames, 3, 3)), np.ones((n_frames, n_atoms), bool))
    fractions = {name: round(float(np.mean(codes == k)), 2) for k, name in enumerate(STRUCTURES)}
    log.info("MD %s %g K: %d snapshots, Ackland-Jones atom fractions %s", phase, temperature, n_frames, fractions)
    if phase == "liquid" and fractions["other"] < 0.5:
        raise RuntimeError(f"MD liquid {temperature:g} K: only {fractions['other']:.0%} of the atoms are disordered "
                           f"(Ackland-Jones {fractions}); the melt did not take: raise md.melt.temperature_K or "
                           "md.melt.duration_ps, or the liquid temperature")


# ---------------------------------------------------------------- assembly

def _wrapped(positions, box):
    frac = positions @ np.linalg.inv(box).T
    return (frac - np.floor(frac)) @ box.T


def generate_embedded(config, seed, train_fraction=0.7, validation_fraction=0.1):
    """The embedded dataset (canonical :class:`Dataset`) from ``config`` (see module doc) and ``seed``."""
    if not jax.config.jax_enable_x64:
        raise RuntimeError("the embedded dataset is generated in float64: enable jax_enable_x64 first")
    cfg = merged_config(config)
    static = static_configurations(cfg, np.random.default_rng([seed, 0]))
    dynamic = md_configurations(cfg, jax.random.PRNGKey(seed))
    configurations = [(kind, phase, positions, box, TYPE_VIRIAL) for kind, phase, positions, box in static]
    configurations += [(kind, phase, positions, box, TYPE_ENERGY_FORCES) for kind, phase, positions, box in dynamic]
    order = np.random.default_rng([seed, 1]).permutation(len(configurations))
    configurations = [configurations[i] for i in order]

    n, n_atoms = len(configurations), max(len(c[2]) for c in configurations)
    positions = np.zeros((n, n_atoms, 3))
    forces = np.zeros((n, n_atoms, 3))
    atom_mask = np.zeros((n, n_atoms), dtype=bool)
    box, virial = np.zeros((n, 3, 3)), np.zeros((n, 3, 3))
    energy_ = np.zeros(n)
    label = _Labeller()
    volume_per_atom = [abs(np.linalg.det(c[3])) / len(c[2]) for c in configurations]
    for k in sorted(range(n), key=lambda k: (len(configurations[k][2]), volume_per_atom[k])):
        _, _, r, b, _ = configurations[k]
        r = _wrapped(r, b)
        energy_[k], forces[k, :len(r)], virial[k] = label(r, b)
        positions[k, :len(r)], box[k], atom_mask[k, :len(r)] = r, b, True
    kinds = [c[0] for c in configurations]
    log.info("embedded dataset: %d configurations: %s", n,
             {kind: kinds.count(kind) for kind in sorted(set(kinds))})
    ds = Dataset(
        positions=positions,
        atom_mask=atom_mask,
        box=box,
        energy=energy_,
        forces=forces,
        virial=virial,
        types=np.array([c[4] for c in configurations], dtype=np.int64),
        phase=np.array([c[1] for c in configurations]),
        split=contiguous_split(n, train_fraction, validation_fraction),
    )
    return validate(ds, source="embedded dataset")
