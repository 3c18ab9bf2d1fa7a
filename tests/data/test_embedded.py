"""Embedded dataset: determinism, labels against the teacher, virial sign and units, content, MD engine."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tifusion import units
from tifusion.calculator import PotentialCalculator
from tifusion.data.dataset import validate
from tifusion.data.embedded import TEACHER, TeacherMD, _langevin_functions, dense_graph, generate_embedded
from tifusion.data.settings import DEFAULTS, configuration_count, merged_config
from tifusion.data.structure_type import classify_configurations
from tifusion.graph import build_graph, image_range
from tifusion.potential import energy_and_forces
from tifusion.structures import hcp_orthogonal, hcp_supercell, to_atoms

SMALL = {
    "ev_scan": {"points": 3},
    "voigt_strain": {"magnitudes": [0.01]},
    "random_strain": {"count": 2},
    "rattle": {"count": 2},
    "md": {"snapshots": 3, "equilibration_ps": 0.1, "volume_iterations": 1, "melt": {"duration_ps": 1.0},
           "temperatures_K": {"hcp": [900], "bcc": [1500], "fcc": [600], "liquid": [2200]}},
}
STATIC_ONLY = {"md": {"temperatures_K": {"hcp": [], "bcc": [], "fcc": [], "liquid": []}}}
N_STATIC = 3 * (1 + 3 + 2 + 2) + 12  # perfect, E-V scan, random strain, rattle per crystal; 12 hcp Voigt
N_MD = 4 * 3


@pytest.fixture(scope="module")
def small():
    return generate_embedded(SMALL, seed=7)


def _teacher(ds, k):
    """Energy (kJ/mol), forces (kJ/mol/nm), virial (kJ/mol) of configuration k via ASE."""
    real = ds.atom_mask[k]
    atoms = to_atoms(ds.positions[k, real], ds.box[k])
    atoms.calc = PotentialCalculator(TEACHER, None)
    volume = abs(np.linalg.det(ds.box[k]))
    stress = atoms.get_stress(voigt=False) * units.EV / units.ANGSTROM**3  # sigma = -W / V
    return atoms.get_potential_energy() * units.EV, atoms.get_forces() * units.EV_PER_ANGSTROM, -stress * volume


@pytest.mark.slow
def test_same_seed_same_arrays_other_seed_other_arrays(small):
    again = generate_embedded(SMALL, seed=7)
    for name, a, b in zip(small._fields, small, again):
        np.testing.assert_array_equal(a, b, err_msg=name)
    one, two = generate_embedded(STATIC_ONLY, seed=1), generate_embedded(STATIC_ONLY, seed=2)
    assert one.n_configurations == two.n_configurations == 3 * (1 + 6 + 10 + 10) + 36  # default counts
    assert configuration_count(STATIC_ONLY) == one.n_configurations
    assert not np.array_equal(one.positions, two.positions)


def test_content_kinds_types_phases_padding_and_split(small):
    validate(small)
    assert small.n_configurations == N_STATIC + N_MD == configuration_count(SMALL)
    assert int(np.sum(small.types == 0)) == N_STATIC and int(np.sum(small.types == 1)) == N_MD
    assert set(small.phase[small.types == 0]) == {"hcp", "bcc", "fcc"}
    assert set(small.phase[small.types == 1]) == {"hcp", "bcc", "fcc", "liquid"}
    n_real = small.atom_mask.sum(axis=1)
    assert small.atom_mask.shape[1] == 128
    assert set(n_real[small.phase == "hcp"]) == {96} and set(n_real[small.phase == "fcc"]) == {108}
    assert set(n_real[small.phase == "bcc"]) == {128} and set(n_real[small.phase == "liquid"]) == {128}
    n = small.n_configurations
    assert [int(np.sum(small.split == k)) for k in range(3)] == [int(0.7 * n), int(0.1 * n),
                                                               n - int(0.7 * n) - int(0.1 * n)]
    assert np.all(np.diff(small.split) >= 0)
    assert 0 < np.mean(small.types[small.split == 0]) < 1  # shuffled before the split
    frac = np.einsum("nij,naj->nai", np.linalg.inv(small.box), small.positions)[small.atom_mask]
    assert np.all((frac > -1e-12) & (frac < 1 + 1e-12))  # wrapped into the cell


@pytest.mark.slow
def test_labels_equal_a_direct_teacher_evaluation(small):
    """Every atom count (96, 108, 128), static and MD: the stored labels equal the ASE
    calculator's, which builds its own neighbour graph."""
    picks = [np.flatnonzero((small.phase == p) & (small.types == t))[-1]
             for p, t in [("hcp", 0), ("fcc", 1), ("liquid", 1)]]
    for k in picks:
        energy, forces, virial = _teacher(small, k)
        real = small.atom_mask[k]
        assert small.energy[k] == pytest.approx(energy, rel=1e-12)
        np.testing.assert_allclose(small.forces[k, real], forces, atol=1e-8)
        np.testing.assert_allclose(small.virial[k], virial, atol=1e-7)
        assert np.all(small.forces[k, ~real] == 0)


def test_teacher_reference_energies_and_zero_pressure_of_perfect_crystals(small):
    """docs/reference_potential.md: hcp -4.87017 eV/atom, bcc +19.9 and fcc +6.4 meV/atom above hcp,
    at the teacher's relaxed lattice constants, i.e. at zero pressure."""
    lattice = DEFAULTS["lattice_nm"]
    volume_per_atom = {"hcp": np.sqrt(3) / 4 * lattice["hcp_a"] ** 2 * lattice["hcp_c"],
                       "bcc": lattice["bcc_a"] ** 3 / 2, "fcc": lattice["fcc_a"] ** 3 / 4}
    volumes = np.abs(np.linalg.det(small.box)) / small.atom_mask.sum(axis=1)
    per_atom = {}
    for phase, v0 in volume_per_atom.items():
        perfect = np.flatnonzero((small.phase == phase) & (small.types == 0) & np.isclose(volumes, v0, rtol=1e-12)
                                 & np.all(np.abs(small.forces) < 1e-6, axis=(1, 2)))
        assert len(perfect) == 2, phase  # the perfect crystal and the E-V scan point at scale 1
        k = perfect[0]
        assert small.energy[perfect[1]] == small.energy[k]
        per_atom[phase] = small.energy[k] / small.atom_mask[k].sum() / units.EV
        pressure = np.trace(small.virial[k]) / (3 * abs(np.linalg.det(small.box[k]))) / units.GPA
        assert abs(pressure) < 0.05, phase
    assert per_atom["hcp"] == pytest.approx(-4.87017, abs=2e-5)
    assert (per_atom["bcc"] - per_atom["hcp"]) * 1e3 == pytest.approx(19.9, abs=0.1)
    assert (per_atom["fcc"] - per_atom["hcp"]) * 1e3 == pytest.approx(6.4, abs=0.1)


def test_virial_sign_and_units_from_finite_differences(small):
    """Compressed cells have positive tr(W)/3V, expanded ones negative, in GPa of the right
    size; tr(W)/3V equals -dE/dV of the teacher by central differences."""
    ev = [k for k in np.flatnonzero((small.phase == "hcp") & (small.types == 0))
          if np.allclose(small.forces[k], 0, atol=1e-6)]  # perfect and E-V scan: forces vanish by symmetry
    volume = np.abs(np.linalg.det(small.box[ev]))
    pressure = np.trace(small.virial[ev], axis1=1, axis2=2) / (3 * volume) / units.GPA
    compressed, expanded = ev[np.argmin(volume)], ev[np.argmax(volume)]
    assert 15 < pressure[np.argmin(volume)] < 40 and -15 < pressure[np.argmax(volume)] < -3
    real = small.atom_mask[compressed]
    atoms = to_atoms(small.positions[compressed, real], small.box[compressed])
    atoms.calc = PotentialCalculator(TEACHER, None)
    h, energies = 1e-4, []
    for scale in (1 - h, 1 + h):
        stretched = atoms.copy()
        stretched.set_cell(atoms.cell * scale, scale_atoms=True)
        stretched.calc = atoms.calc
        energies.append(stretched.get_potential_energy() * units.EV)
    v = volume[np.argmin(volume)]
    dE_dV = (energies[1] - energies[0]) / (v * ((1 + h) ** 3 - (1 - h) ** 3))
    assert np.trace(small.virial[compressed]) / (3 * v) == pytest.approx(-dE_dV, rel=1e-6)
    assert expanded != compressed


def test_md_snapshots_keep_their_phase_and_expand_with_temperature(small):
    md = small.types == 1
    ph = classify_configurations(small.positions, small.box, small.atom_mask)
    for phase in ("hcp", "fcc"):
        assert np.all(ph[md & (small.phase == phase)] == phase)
    assert np.all(ph[md & (small.phase == "liquid")] == "other")
    vol = np.abs(np.linalg.det(small.box)) / small.atom_mask.sum(axis=1)
    for phase in ("hcp", "fcc", "bcc"):
        static = vol[(small.phase == phase) & ~md & np.all(np.isclose(small.forces, 0, atol=1e-6), axis=(1, 2))]
        assert np.all(vol[md & (small.phase == phase)] > np.median(static))  # thermal expansion
    assert np.all(vol[md & (small.phase == "liquid")] > np.max(vol[md & (small.phase == "bcc")]))


@pytest.mark.slow
def test_dense_graph_equals_build_graph_on_a_triclinic_cell():
    positions, box = hcp_supercell(0.29402, 0.47723, (5, 5, 3))
    positions = positions + np.random.default_rng(3).normal(0, 0.01, positions.shape) + box @ [1.3, -0.6, 2.2]
    ours = dense_graph(positions, box, TEACHER.cutoff)
    theirs = build_graph(positions, box, TEACHER.cutoff, int(ours.max_neighbors), image_range(box, TEACHER.cutoff))
    assert int(ours.max_neighbors) == int(theirs.max_neighbors)

    def pairs(g):
        idx, shift, mask = (np.asarray(x) for x in (g.idx, g.shift, g.mask))
        return {(i, int(idx[i, a]), *np.round(shift[i, a]).astype(int)) for i, a in zip(*np.nonzero(mask))}

    assert pairs(ours) == pairs(theirs)
    e1, f1 = energy_and_forces(TEACHER, None, jnp.asarray(positions), jnp.asarray(box), ours)
    e2, f2 = energy_and_forces(TEACHER, None, jnp.asarray(positions), jnp.asarray(box), theirs)
    assert float(e1) == pytest.approx(float(e2), rel=1e-12)
    np.testing.assert_allclose(f1, f2, atol=1e-9)


def test_skinned_md_equals_md_on_exact_graphs_and_thermostats():
    """The skinned, reused graph gives the trajectory of a graph rebuilt exactly at every
    step; the Langevin thermostat holds the kinetic temperature."""
    md = merged_config({})["md"]
    positions, box = hcp_orthogonal(0.29402, 0.47723, (4, 2, 3))
    kT = units.kT(1500.0)
    engine = TeacherMD(md)
    start = engine.start(jax.random.PRNGKey(0), positions, box, kT)
    skinned = engine.advance(start, box, kT, 40)

    _, piece = _langevin_functions(md["timestep_ps"], md["friction_per_ps"])
    state = start.state
    for _ in range(40):  # one step at a time on a graph rebuilt before each step
        graph = dense_graph(state.position, box, TEACHER.cutoff + 0.01, capacity=128)  # covers one step
        state, _ = piece(state, box, graph, state.position, kT, 1)
    np.testing.assert_allclose(skinned.state.position, state.position, atol=1e-9)
    np.testing.assert_allclose(skinned.state.momentum, state.momentum, atol=1e-7)

    run, temperatures = skinned, []
    for _ in range(60):
        run = engine.advance(run, box, kT, 10)
        p = np.asarray(run.state.momentum)
        temperatures.append(np.sum(p**2) / units.MASS_TI / (3 * (len(p) - 1) * units.KB))
    assert np.mean(temperatures[20:]) == pytest.approx(1500.0, rel=0.08)


def test_unknown_config_keys_are_errors_naming_the_key():
    with pytest.raises(KeyError, match=r"md\.temperature'"):
        generate_embedded({"md": {"temperature": 300}}, seed=0)
    with pytest.raises(KeyError, match="md.temperatures_K.hpc"):
        generate_embedded({"md": {"temperatures_K": {"hpc": [300]}}, "perfect": {"count": 0}}, seed=0)
