"""PotentialCalculator: ASE units and sign conventions, checked with ASE's and phonopy's own machinery."""
import ase.units
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.constants
from ase.calculators.fd import FiniteDifferenceCalculator
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS
from phonopy import Phonopy
from phonopy.structure.atoms import PhonopyAtoms

from tifusion.calculator import PotentialCalculator, evaluate
from tifusion.potential import energy
from tifusion.properties.static import complete_graph
from tifusion.reference.eam import zhou2004_ti
from tifusion.structures import hcp_supercell, to_atoms
from tifusion.units import ANGSTROM, ANGSTROM_PER_FS, EV, EV_PER_ANGSTROM, GPA, MASS_TI

POT = zhou2004_ti()
HCP_A, HCP_C, HCP_E = 2.9402, 4.7723, -4.87017  # docs/reference_potential.md (Angstrom, eV/atom)


def _hcp_atoms(a=HCP_A, c=HCP_C, repeat=(1, 1, 1)):
    return to_atoms(*hcp_supercell(a * ANGSTROM, c * ANGSTROM, repeat))


def _rattled_strained(seed=0):
    rng = np.random.default_rng(seed)
    atoms = _hcp_atoms(2.95, 4.75, (2, 2, 1))
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.02 * rng.standard_normal((3, 3))), scale_atoms=True)
    atoms.positions += 0.05 * rng.standard_normal(atoms.positions.shape)
    return atoms


def test_unit_conversions_against_independent_constants():
    e_na = scipy.constants.e * scipy.constants.N_A
    assert EV == pytest.approx(e_na / 1e3, rel=1e-10)  # J/mol -> kJ/mol
    assert EV == pytest.approx(ase.units.mol / ase.units.kJ, rel=1e-6)
    assert EV_PER_ANGSTROM == pytest.approx(EV * 10, rel=1e-15)  # 10 Angstrom per nm
    assert GPA == pytest.approx(1e9 * 1e-27 * scipy.constants.N_A / 1e3, rel=1e-12)  # J/m^3 -> kJ/mol/nm^3
    assert GPA == pytest.approx(ase.units.GPa * EV / ANGSTROM**3, rel=1e-6)  # via eV/Angstrom^3
    assert GPA == pytest.approx(602.214, abs=1e-3)
    assert ANGSTROM_PER_FS == pytest.approx(scipy.constants.angstrom / scipy.constants.femto / 1e3, rel=1e-12)


def test_energy_at_the_reference_lattice():
    atoms = _hcp_atoms()
    atoms.calc = PotentialCalculator(POT, None)
    assert atoms.get_potential_energy() / len(atoms) == pytest.approx(HCP_E, abs=1e-4)
    assert atoms.get_potential_energy(force_consistent=True) == atoms.get_potential_energy()
    np.testing.assert_allclose(atoms.get_forces(), 0.0, atol=1e-10)  # symmetry


def test_forces_and_stress_agree_with_ase_finite_differences():
    atoms = _rattled_strained()
    calc = PotentialCalculator(POT, None)
    forces, stress = calc.get_forces(atoms), calc.get_stress(atoms)
    assert np.abs(forces).max() > 0.1 and np.abs(stress).max() > 1e-3  # far from equilibrium: a real test
    numerical = FiniteDifferenceCalculator(calc, eps_disp=1e-4, eps_strain=1e-5)
    np.testing.assert_allclose(forces, numerical.get_forces(atoms), atol=1e-6)
    np.testing.assert_allclose(stress, numerical.get_stress(atoms), atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("scale, sign", [(0.99, -1.0), (1.01, 1.0)])
def test_stress_sign_follows_ase(scale, sign):
    # ASE: stress = (1/V) dE/d(strain), negative under compression (positive pressure).
    atoms = _hcp_atoms(HCP_A * scale, HCP_C * scale)
    atoms.calc = PotentialCalculator(POT, None)
    stress = atoms.get_stress(voigt=True)
    assert np.all(np.sign(stress[:3]) == sign)
    np.testing.assert_allclose(stress[3:], 0.0, atol=1e-10)
    pressure_gpa = -stress[:3].mean() / ase.units.GPa
    bulk_modulus = 110.0  # GPa, from the reference C_ij: (2 C11 + C33 + 2 C12 + 4 C13) / 9
    assert pressure_gpa == pytest.approx(-3 * (scale - 1) * bulk_modulus, rel=0.15)


def test_ase_optimizer_with_cell_filter_finds_the_reference_lattice():
    atoms = _hcp_atoms(2.97, 4.70)
    atoms.calc = PotentialCalculator(POT, None)
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-5, steps=200)
    a, _, c = atoms.cell.lengths()
    assert a == pytest.approx(HCP_A, abs=1e-3)
    assert c == pytest.approx(HCP_C, abs=1e-3)


def test_phonopy_gamma_frequencies_match_the_autodiff_hessian():
    primitive = _hcp_atoms()
    unitcell = PhonopyAtoms(symbols=primitive.get_chemical_symbols(), cell=primitive.cell.array,
                            scaled_positions=primitive.get_scaled_positions(), masses=[MASS_TI] * 2)
    phonon = Phonopy(unitcell, supercell_matrix=np.diag([3, 3, 2]), primitive_matrix=None)
    phonon.generate_displacements(distance=0.01)
    calc = PotentialCalculator(POT, None)
    forces = []
    for cell in phonon.supercells_with_displacements:
        atoms = to_atoms(cell.positions * ANGSTROM, cell.cell.T * ANGSTROM)
        atoms.calc = calc
        forces.append(atoms.get_forces())
    phonon.forces = forces
    phonon.produce_force_constants()
    phonon.run_qpoints([[0, 0, 0]])
    phonopy_thz = np.sort(phonon.qpoints.frequencies[0])

    # Gamma point of the primitive cell: Hessian of its periodic energy (kJ/mol/nm^2) / mass (u) = 1/ps^2.
    positions, box = hcp_supercell(HCP_A * ANGSTROM, HCP_C * ANGSTROM, (1, 1, 1))
    positions, box = jnp.asarray(positions), jnp.asarray(box)
    graph = complete_graph(POT, positions, box)
    hessian = jax.jit(jax.hessian(lambda r: energy(POT, None, r, box, graph)))(positions).reshape(6, 6)
    omega2 = np.linalg.eigvalsh(np.asarray(hessian) / MASS_TI)
    autodiff_thz = np.sort(np.sign(omega2) * np.sqrt(np.abs(omega2)) / (2 * np.pi))
    np.testing.assert_allclose(phonopy_thz[:3], 0.0, atol=0.02)
    np.testing.assert_allclose(autodiff_thz[:3], 0.0, atol=1e-4)
    assert autodiff_thz[3] > 3.0  # optical modes: a meaningful comparison
    np.testing.assert_allclose(phonopy_thz[3:], autodiff_thz[3:], rtol=2e-3)


def test_capacity_is_sized_grown_or_refused():
    atoms = _hcp_atoms(repeat=(2, 2, 1))
    ample = PotentialCalculator(POT, None, capacity=300)
    auto = PotentialCalculator(POT, None)
    assert auto.get_potential_energy(atoms) == pytest.approx(ample.get_potential_energy(atoms), rel=1e-13)
    sized = auto.capacity
    assert 92 <= sized < 120  # 92 neighbours within 7.5 Angstrom at this lattice, plus a margin

    compiled = evaluate._cache_size()
    atoms.positions[0] += 0.1
    auto.get_forces(atoms)
    assert auto.capacity == sized and evaluate._cache_size() == compiled  # same shapes: no recompilation

    atoms.set_cell(atoms.cell.array * 0.9, scale_atoms=True)  # 37 % more neighbours than before
    with pytest.raises(RuntimeError, match=f"capacity={sized}"):
        PotentialCalculator(POT, None, capacity=sized).get_potential_energy(atoms)
    assert auto.get_potential_energy(atoms) == pytest.approx(ample.get_potential_energy(atoms), rel=1e-13)
    assert auto.capacity > sized


def test_refuses_other_elements_and_open_boundaries():
    atoms = _hcp_atoms()
    atoms.calc = PotentialCalculator(POT, None)
    atoms.symbols[1] = "Zr"
    with pytest.raises(ValueError, match="Zr"):
        atoms.get_potential_energy()
    atoms = _hcp_atoms()
    atoms.pbc = [True, True, False]
    atoms.calc = PotentialCalculator(POT, None)
    with pytest.raises(ValueError, match="periodic"):
        atoms.get_potential_energy()
