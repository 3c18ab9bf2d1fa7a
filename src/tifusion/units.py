"""The one internal unit system of the package, and the conversions at its edges.

Internal units (the "GROMACS" system, also the one of the paper's code):

==========  =============  =====================================================
quantity    unit           why
==========  =============  =====================================================
length      nm             paper code and hyperparameters (cutoff 0.5 nm)
energy      kJ/mol         paper loss weights (1e-6, 1e-2, 4e-6, 1e-10, 1e-9)
time        ps             MD protocols (dt 0.5e-3 ps, friction 4 ps^-1)
mass        u (g/mol)      kJ/mol = u nm^2 / ps^2, so MD needs no extra factor
temperature K              kT = K_B * T in kJ/mol
stress      kJ/mol/nm^3    energy / volume; 1 GPa = 602.214 kJ/mol/nm^3
==========  =============  =====================================================

The system is coherent (force / mass = acceleration in nm/ps^2), so integrators need
no conversion factors. Data in eV and Angstrom (DFT, the EAM reference, ASE, phonopy)
and results in GPa, meV or Angstrom (tables, plots) are converted only at those edges,
with the constants below. CODATA 2018 values.
"""

AVOGADRO = 6.02214076e23  # 1/mol
KB = 8.314462618e-3  # Boltzmann constant, kJ/mol/K
EV = 96.48533212  # 1 eV in kJ/mol
MEV = EV * 1e-3  # 1 meV in kJ/mol
ANGSTROM = 0.1  # 1 Angstrom in nm
GPA = 1e9 * 1e-27 * AVOGADRO * 1e-3  # 1 GPa in kJ/mol/nm^3 (= 602.214...)
BAR = 1e-4 * GPA  # 1 bar in kJ/mol/nm^3
FEMTOSECOND = 1e-3  # 1 fs in ps
THZ = 1.0  # 1 THz in 1/ps
EV_PER_ANGSTROM = EV / ANGSTROM  # 1 eV/Angstrom in kJ/mol/nm
MASS_TI = 47.867  # atomic mass of titanium, u (IUPAC standard atomic weight)
M2_PER_S = 1e18 / 1e12  # 1 m^2/s in nm^2/ps (diffusion coefficients)
ANGSTROM_PER_FS = ANGSTROM / FEMTOSECOND  # 1 Angstrom/fs in nm/ps (velocities; ASE's time unit is 1/ase.units.fs fs)


def kT(temperature_K):
    """Thermal energy in kJ/mol at a temperature in K."""
    return KB * temperature_K
