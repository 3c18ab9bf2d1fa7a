"""The one loader of the experimental reference data (the package's ``data/experimental/`` folder).

Each loader reads one CSV of ``tifusion/data/experimental/`` (see its README.md for the sources),
checks it (file present, expected columns present, numeric columns finite) and returns a
pandas DataFrame in the units of the file (GPa, Angstrom, K, as the column names say). Its
``attrs`` carry where the numbers come from: ``source_file``, ``citation``, ``status``
("measured", "derived" = computed from other data, not measured as such, "digitized",
"as printed in the paper") and ``notes`` (the file's own ``#`` header lines).

:func:`experimental_cell` and :func:`elastic_targets` turn a row of the hcp table into the
internal units used by the simulations (docs/method.md §5): the authors' 150-atom 5x5x3
hcp box at the experimental a(T), c(T), and the elastic constants in kJ/mol/nm^3.

The tables ship with the package (``importlib.resources``), so an installed package finds them; the
workflow's rules declare the same files as inputs, so editing a table reruns what depends on it.
"""
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from tifusion.observables.elasticity import HEXAGONAL_CONSTANTS
from tifusion.structures import hcp_supercell
from tifusion.units import ANGSTROM, GPA

EXPERIMENT_DIR = Path(str(resources.files("tifusion.data") / "experimental"))
EXPERIMENTAL_REPEAT = (5, 5, 3)  # the authors' 150-atom experimental boxes


class TableSpec(NamedTuple):
    file: str
    numeric: tuple  # columns that must be finite numbers
    text: tuple  # further required columns
    status: str
    citation: str


HCP = TableSpec(
    "hcp_ti_elastic_and_lattice.csv",
    ("temperature_K", "a_angstrom", "c_angstrom", "density_g_cm3",
     "C11_GPa", "C12_GPa", "C13_GPa", "C33_GPa", "C44_GPa"),
    (), "measured",
    "Lattice constants: Souvatzis, Eriksson & Katsnelson, Phys. Rev. Lett. 99, 015901 (2007); elastic constants: "
    "Simmons & Wang, Single crystal elastic constants and calculated aggregate properties (MIT Press, 1971); "
    "both as tabulated in github.com/tummfm/Fused-EXP-DFT-MLP",
)
BCC = TableSpec(
    "bcc_ti_elastic_1273K.csv", ("T_K", "C11_GPa", "C12_GPa", "C44_GPa"), ("source",), "as printed in the paper",
    "Röcken & Zavadlav, npj Comput. Mater. 10, 69 (2024), Table 2 (original sources in the source column)",
)
PHONON_DOS = TableSpec(
    "hcp_ti_phonon_dos_295K_stassis1979.csv", ("energy_meV", "frequency_THz", "vdos_norm"), (), "digitized",
    "Stassis, Arch, Harmon & Wakabayashi, Phys. Rev. B 19, 181 (1979), Fig. 5 (force-constant fit to neutron data), "
    "digitized for NCrystal (data/Ti_sg194.ncmat)",
)
ACOUSTIC_SLOPES = TableSpec(
    "hcp_ti_acoustic_slopes_293K_derived.csv", ("C_GPa", "v_m_per_s", "slope_THz_Angstrom"),
    ("direction", "branch", "elastic_constant"), "derived",
    "Derived from ultrasonic Cij of Fisher & Renken, Phys. Rev. 135, A482 (1964), via the DAMASK Hooke_Ti fit",
)
SELF_DIFFUSION = TableSpec(
    "liquid_ti_self_diffusion.csv", ("T_K", "D_m2_per_s", "D_err_m2_per_s"), ("method", "status"), "measured",
    "Meyer, Horbach, Heinen, Holland-Moritz & Unruh, Defect Diffus. Forum 289-292, 609 (2009)",
)
PHONON_DISPERSION = TableSpec(
    "hcp_ti_phonon_dispersion_295K_stassis1979.csv", ("zeta", "nu_THz", "sigma_THz"), ("branch", "direction"),
    "measured", "Stassis, Arch, Harmon & Wakabayashi, Phys. Rev. B 19, 181 (1979), Table I (295 K)",
)
# The reduced wave vector (reciprocal-lattice units) of a point zeta of each measured direction: [00z] is Gamma-A,
# [z00] Gamma-M, [zz0] Gamma-K-M (K at 1/3, M at 1/2 for the hexagonal axes at 120 degrees).
DISPERSION_DIRECTIONS = {"[00z]": (0.0, 0.0, 1.0), "[z00]": (1.0, 0.0, 0.0), "[zz0]": (1.0, 1.0, 0.0)}
SELF_DIFFUSION_SERIES = TableSpec(
    "liquid_ti_self_diffusion_horbach2009.csv", ("T_K", "D_m2_per_s"), (), "digitized",
    "Horbach, Rozas, Unruh & Meyer, Phys. Rev. B 80, 212203 (2009), digitized in github.com/tummfm/DiffTTC",
)
LIQUID_RDF = TableSpec(
    "liquid_ti_rdf_holland_moritz2007.csv", ("r_angstrom", "g_r"), (), "digitized",
    "Holland-Moritz et al., Mater. Sci. Eng. A (2007), doi:10.1016/j.msea.2005.12.093, digitized in "
    "github.com/tummfm/DiffTTC",
)
LIQUID_ADF = TableSpec(
    "liquid_ti_adf_kim2007.csv", ("cos_theta", "adf_unnormalized"), (), "derived",
    "Kim et al., J. Chem. Phys. (2007), doi:10.1063/1.2431173, digitized in github.com/tummfm/DiffTTC",
)
LATTICE_VS_PRESSURE = TableSpec(
    "hcp_ti_lattice_vs_pressure_293K_derived.csv",
    ("P_GPa", "a_over_a0", "c_over_c0", "c_over_a_over_c0a0", "V_over_V0"), (), "derived",
    "Derived from the room-temperature compliances of Fisher & Renken (1964) with an assumed K0' = 4; not measured",
)
PAPER_VALUES = TableSpec(
    "paper_reported_values.csv", ("value",), ("quantity", "model", "unit", "where"), "as printed in the paper",
    "Röcken & Zavadlav, npj Comput. Mater. 10, 69 (2024), Tables 1-2 and text",
)


def _header_notes(path):
    notes = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            notes.append(line[1:].strip())
    return notes


def load_table(spec, path=None):
    """Read and check one table; ``path`` overrides the packaged file."""
    path = Path(path) if path is not None else EXPERIMENT_DIR / spec.file
    if not path.is_file():
        raise FileNotFoundError(f"experimental data file not found: {path}")
    try:
        frame = pd.read_csv(path, comment="#", skipinitialspace=True)
    except (ValueError, pd.errors.ParserError) as error:
        raise ValueError(f"{path}: cannot be read as CSV: {error}") from error
    if frame.empty:
        raise ValueError(f"{path}: no data rows")
    for column in spec.numeric + spec.text:
        if column not in frame.columns:
            raise ValueError(f"{path}: missing column {column!r} (found {list(frame.columns)})")
    for column in spec.numeric:
        values = pd.to_numeric(frame[column], errors="coerce").astype(float)
        bad = ~np.isfinite(values.to_numpy())
        if bad.any():
            rows = frame.index[bad].tolist()
            raise ValueError(f"{path}: column {column!r} has missing, non-numeric or non-finite values "
                             f"in data rows {rows}: {frame[column][bad].tolist()}")
        frame[column] = values
    frame.attrs.update(source_file=str(path), citation=spec.citation, status=spec.status,
                       notes=_header_notes(path))
    return frame


def load_hcp_experiment(path=None):
    """hcp Ti a(T), c(T), density and C11, C12, C13, C33, C44 (Angstrom, g/cm^3, GPa), 4-973 K."""
    frame = load_table(HCP, path)
    duplicated = frame["temperature_K"].duplicated()
    if duplicated.any():
        raise ValueError(f"{frame.attrs['source_file']}: column 'temperature_K' repeats "
                         f"{frame['temperature_K'][duplicated].tolist()}")
    return frame


def load_bcc_elastic(path=None):
    """The three experimental bcc Ti elastic constant sets near 1273 K (GPa)."""
    return load_table(BCC, path)


def load_phonon_dos(path=None):
    """hcp Ti phonon density of states at 295 K (meV, THz, normalised to max 1)."""
    return load_table(PHONON_DOS, path)


def load_acoustic_slopes(path=None):
    """Long-wavelength acoustic slopes at 293 K (THz Angstrom), derived from ultrasonic C_ij."""
    return load_table(ACOUSTIC_SLOPES, path)


def load_self_diffusion(path=None):
    """Liquid Ti self-diffusion coefficient (m^2/s) near 2000 K."""
    return load_table(SELF_DIFFUSION, path)


def load_phonon_dispersion(path=None):
    """Measured hcp Ti phonon frequencies at 295 K (THz, with sigma) per branch, direction and reduced zeta."""
    table = load_table(PHONON_DISPERSION, path)
    unknown = sorted(set(table["direction"]) - set(DISPERSION_DIRECTIONS))
    if unknown:
        raise ValueError(f"{table.attrs['source_file']}: unknown direction(s) {unknown} "
                         f"(known: {sorted(DISPERSION_DIRECTIONS)})")
    return table


def dispersion_qpoints(table):
    """[N, 3] reduced wave vectors of the rows of :func:`load_phonon_dispersion`."""
    directions = np.array([DISPERSION_DIRECTIONS[d] for d in table["direction"]])
    return directions * table["zeta"].to_numpy()[:, None]


def load_self_diffusion_series(path=None):
    """Liquid Ti self-diffusion coefficients (m^2/s) at 1952-2109 K, without error bars."""
    return load_table(SELF_DIFFUSION_SERIES, path)


def load_liquid_rdf(path=None):
    """Liquid Ti pair distribution function g(r) near 1960 K (r in Angstrom)."""
    return load_table(LIQUID_RDF, path)


def load_liquid_adf(path=None):
    """Liquid Ti bond-angle distribution against cos(theta), unnormalized."""
    return load_table(LIQUID_ADF, path)


def measured_adf_per_degree(path=None):
    """The measured bond-angle distribution as the model's ADF is reported: a density in theta (degrees) with unit
    area. A density in cos(theta) becomes one in theta by the Jacobian |d cos(theta)/d theta| = sin(theta)."""
    table = load_liquid_adf(path)
    cos_theta = np.clip(table["cos_theta"].to_numpy(), -1.0, 1.0)
    theta = np.degrees(np.arccos(cos_theta))
    density = table["adf_unnormalized"].to_numpy() * np.sin(np.radians(theta))
    order = np.argsort(theta)
    theta, density = theta[order], density[order]
    return theta, density / np.trapezoid(density, theta)


def load_lattice_vs_pressure(path=None):
    """Derived a/a0, c/c0, V/V0 of hcp Ti under pressure (GPa) at 293 K."""
    return load_table(LATTICE_VS_PRESSURE, path)


def load_paper_reported_values(path=None):
    """The numbers the paper reports (quantity, model, value, unit, where)."""
    return load_table(PAPER_VALUES, path)


def _row(temperature, table):
    table = load_hcp_experiment() if table is None else table
    match = np.isclose(table["temperature_K"].to_numpy(dtype=float), float(temperature), rtol=0.0, atol=1e-6)
    if not match.any():
        raise ValueError(f"no experimental hcp data at T = {temperature} K in "
                         f"{table.attrs.get('source_file', 'the table')}; available: {table['temperature_K'].tolist()}")
    return table[match].iloc[0]


def experimental_cell(temperature, table=None):
    """(positions [150, 3], box [3, 3]) in nm: the 5x5x3 hcp supercell at the experimental a(T), c(T)."""
    row = _row(temperature, table)
    return hcp_supercell(row["a_angstrom"] * ANGSTROM, row["c_angstrom"] * ANGSTROM, EXPERIMENTAL_REPEAT)


def elastic_targets(temperature, table=None):
    """Experimental C11, C33, C44, C12, C13 at ``temperature`` in kJ/mol/nm^3."""
    row = _row(temperature, table)
    return {name: float(row[f"{name}_GPa"]) * GPA for name in HEXAGONAL_CONSTANTS}
