"""NPT lattice constants with the Zhou 2004 EAM: the barostat must let c/a leave the experimental value.

The EAM's own c/a is 1.6231 at 0 K (docs/reference_potential.md, lattice sums) against the experimental
1.586 of the starting cell: a barostat that keeps the box shape (jax-md's isotropic NPT) would stay
at 1.586. The run goes through the file-level entry: the npz holds the arrays and the provenance,
and the checkpoints are gone afterwards.
"""
import numpy as np
import pytest

from tifusion.io import load_npz_metadata
from tifusion.properties.lattice import hcp_lattice_constants, lattice_temperature
from tifusion.properties.simulation import compute_and_write
from tifusion.reference.eam import zhou2004_ti
from tifusion.structures import hcp_supercell
from tifusion.units import GPA

EAM = zhou2004_ti()
PROTOCOL = dict(temperatures_K=[323.0], dt_ps=0.001, equilibration_ps=0.8, production_ps=0.8, frame_interval_ps=0.01,
                coupling="semiisotropic", barostat=dict(tau_ps=0.1, compressibility_per_GPa=1 / 110),
                friction_per_ps=4.0, skin_nm=0.05, n_blocks=5, checkpoint_ps=0.4)


@pytest.mark.slow
def test_semiisotropic_npt_moves_c_over_a_from_experiment_to_the_eam_value(tmp_path, seed):
    output = tmp_path / "lattice_temperature.npz"
    result = compute_and_write(lattice_temperature, EAM, None, PROTOCOL, output, seed=seed,
                               checkpoint_dir=tmp_path / "checkpoints")
    assert not (tmp_path / "checkpoints").exists()
    with np.load(output) as data:
        np.testing.assert_array_equal(data["c_over_a"], result["c_over_a"])
        assert data["a_series"].shape == (1, 80) and data["time_ps"][-1] == pytest.approx(0.8)
        # errors from each series' correlation time (ps); 80 frames cannot resolve the box's
        assert data["c_tau_ps"].shape == data["c_resolved"].shape == (1,) and data["c_resolved"].dtype == bool
        assert 0.01 <= data["c_tau_ps"][0] <= 0.8
    record = load_npz_metadata(output)
    assert record["config"] == PROTOCOL and record["seed"] == seed and record["potential"] == EAM.name
    c_over_a, error = float(result["c_over_a"][0]), float(result["c_over_a_err"][0])
    assert 1.603 < c_over_a < 1.645, (c_over_a, error)  # started at 4.67942 / 2.95125 = 1.5856
    assert error < 0.005
    assert abs(float(result["a"][0]) - 0.29402) < 0.003  # EAM a at 0 K, a few 0.1 % of thermal expansion
    assert abs(float(result["pressure"][0])) < 3 * float(result["pressure_err"][0]) + 0.2 * GPA
    np.testing.assert_array_equal(result["temperature_K"], [323.0])
    np.testing.assert_array_equal(result["target_pressure"], [0.0])


def test_lattice_constants_are_read_from_supercell_boxes():
    _, box = hcp_supercell(0.295, 0.468, (5, 5, 3))
    a, c = hcp_lattice_constants(np.stack([box, np.diag([1.01, 1.01, 0.99]) @ box]), (5, 5, 3))
    np.testing.assert_allclose(a, [0.295, 0.295 * 1.01])
    np.testing.assert_allclose(c, [0.468, 0.468 * 0.99])
