"""The public API (tifusion.load, elastic_constants, lattice_constants, phonon_dispersion, molecular_dynamics): the
property code's numbers converted to the units users expect, and clear errors."""
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read

import tifusion
from tifusion import api
from tifusion.properties.elastic import hcp_elastic
from tifusion.reference.eam import zhou2004_ti
from tifusion.units import GPA

EAM = tifusion.Model(Path("zhou2004_ti"), zhou2004_ti(), None, {})
SHORT = dict(production_ps=0.4, equilibration_ps=0.08, frame_interval_ps=0.04)  # 10 frames: units, not physics


def test_the_package_exports_the_api_without_importing_jax_on_import():
    import subprocess
    import sys

    code = "import sys, tifusion; assert 'jax' not in sys.modules; print(tifusion.__all__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "elastic_constants" in out and "load" in out


def test_elastic_constants_are_the_property_codes_numbers_in_gpa():
    frame = tifusion.elastic_constants(EAM, [23], seed=1, **SHORT)
    protocol = {**api.MD_DEFAULTS, "temperatures_K": [23.0], "thermostat": "langevin", **SHORT}
    direct = hcp_elastic(EAM.potential, EAM.params, protocol, 1)
    for name in ("C11", "C44", "pressure"):
        assert frame[f"{name}_GPa"][0] == pytest.approx(float(direct[name][0]) / GPA, rel=1e-12)
        assert frame[f"{name}_err_GPa"][0] == pytest.approx(float(direct[f"{name}_err"][0]) / GPA, rel=1e-12)
    assert frame["nu"][0] == pytest.approx(float(direct["nu"][0]))
    # GPa, not kJ/mol/nm^3 (x 602): the Zhou EAM near 0 K has C11 147.7, C44 36.6 GPa (docs/reference_potential.md)
    assert 100 < frame["C11_GPa"][0] < 200 and 20 < frame["C44_GPa"][0] < 60


def test_lattice_constants_are_in_angstrom_near_the_eams():
    frame = tifusion.lattice_constants(EAM, [23], production_ps=0.4, equilibration_ps=0.2)
    assert list(frame.columns[:3]) == ["temperature_K", "pressure_GPa", "a_angstrom"]
    # docs/reference_potential.md: the EAM's relaxed a = 2.9402, c = 4.7723 Angstrom at 0 K
    assert frame["a_angstrom"][0] == pytest.approx(2.9402, abs=0.01)
    assert frame["c_angstrom"][0] == pytest.approx(4.7723, abs=0.03)


def test_molecular_dynamics_writes_an_ase_trajectory_in_ase_units(tmp_path):
    atoms = bulk("Ti", "hcp", a=2.9402, c=4.7723) * (3, 3, 2)
    path = tifusion.molecular_dynamics(EAM, atoms, 300, 0.1, tmp_path / "md.traj", interval_ps=0.02)
    frames = read(path, index=":")
    assert len(frames) == 5
    assert frames[-1].info["time_ps"] == pytest.approx(0.1)
    # positions in Angstrom (atoms move by less than 0.5 Angstrom in 0.1 ps at 300 K)
    assert np.max(np.linalg.norm(frames[-1].get_positions() - atoms.get_positions(), axis=1)) < 0.5
    # momenta in ASE units: the kinetic temperature of the frames is of the order of 300 K
    temperature = np.mean([f.get_temperature() for f in frames])
    assert 100 < temperature < 600
    energy_per_atom = frames[0].info["energy_eV"] / len(atoms)
    assert energy_per_atom == pytest.approx(-4.870, abs=0.05)  # the Zhou EAM at 0 K: -4.87017 eV/atom


def test_molecular_dynamics_refuses_other_elements_and_open_cells(tmp_path):
    with pytest.raises(ValueError, match="titanium"):
        tifusion.molecular_dynamics(EAM, bulk("Zr", "hcp", a=3.2, c=5.1) * (3, 3, 2), 300, 0.1, tmp_path / "x.traj")
    atoms = bulk("Ti", "hcp", a=2.94, c=4.77) * (3, 3, 2)
    atoms.pbc = [True, True, False]
    with pytest.raises(ValueError, match="periodic"):
        tifusion.molecular_dynamics(EAM, atoms, 300, 0.1, tmp_path / "x.traj")


def test_phonon_dispersion_is_in_thz_and_inverse_angstrom():
    result = tifusion.phonon_dispersion(EAM, lattice="experimental", supercell=(3, 3, 2), points_per_segment=5,
                                        mesh=(4, 4, 3))
    assert result["a"] == pytest.approx(2.951, abs=0.005)  # the experimental a near room temperature, Angstrom
    assert 5 < float(np.max(result["frequencies"])) < 10  # Ti's highest phonon near 7 THz
    assert result["distances"][-1] == pytest.approx(result["label_distances"][-1])
    assert 1 < result["label_distances"][-1] < 5  # Gamma-M-K-Gamma-A in 1/Angstrom (with 2 pi)


def test_load_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        tifusion.load(tmp_path / "nope.npz")

