"""Off-target comparisons with measured data: g(r) peaks, D at the measured temperatures, pooled phonon rms."""
import numpy as np
import pandas as pd
import pytest

from tifusion.data.experiment import load_liquid_rdf, load_self_diffusion_series
from tifusion.properties import offtarget, tables
from tifusion.units import ANGSTROM, M2_PER_S, kT


def two_shells(r, first=2.85, second=5.3, height=2.6):
    """A liquid-like g(r): two Gaussian shells on 1, a hole at small r."""
    g = 1 + (height - 1) * np.exp(-((r - first) / 0.25) ** 2) + 0.3 * np.exp(-((r - second) / 0.5) ** 2)
    g -= 0.6 * np.exp(-((r - 0.5 * (first + second)) / 0.5) ** 2)
    return np.where(r < 2.2, 0.0, g)


def test_rdf_peaks_find_the_shells_of_an_analytic_curve_between_bins():
    r = np.arange(0.025, 6.0, 0.05)  # the default's histogram bin centres, in Angstrom
    peaks = offtarget.rdf_peaks(r, two_shells(r, first=2.8731, second=5.2507))
    assert peaks["first_peak_position"] == pytest.approx(2.8731, abs=0.005)  # a tenth of a bin
    assert peaks["first_peak_height"] == pytest.approx(2.6, abs=0.01)
    assert peaks["second_peak_position"] == pytest.approx(5.2507, abs=0.05)


def test_rdf_peaks_refuse_a_curve_that_ends_inside_the_first_shell():
    r = np.arange(0.025, 3.0, 0.05)
    with pytest.raises(ValueError, match="first shell"):
        offtarget.rdf_peaks(r, two_shells(r))


def test_a_model_with_the_measured_g_has_the_measured_peaks():
    measured = load_liquid_rdf()
    r = np.arange(0.0025, 0.6, 0.005)  # nm
    g = np.interp(r / ANGSTROM, measured["r_angstrom"], measured["g_r"])
    comparison = offtarget.rdf_peak_comparison({"r": r, "g": g})
    for name, (model, experiment) in comparison.items():
        assert model == pytest.approx(experiment, rel=0.01), name


def test_diffusion_at_is_exact_at_the_simulated_temperatures_and_arrhenius_between():
    d0, activation = 4e-7, 70.0  # m^2/s, kJ/mol
    temperature = np.array([1953.0, 2110.0])
    result = {"temperature_K": temperature, "D": d0 * np.exp(-activation / kT(temperature)) * M2_PER_S}
    between = np.array([1953.0, 2030.0, 2110.0])
    np.testing.assert_allclose(offtarget.diffusion_at(result, between),
                               d0 * np.exp(-activation / kT(between)), rtol=1e-10)
    assert np.isnan(offtarget.diffusion_at({"temperature_K": temperature[:1], "D": result["D"][:1]}, between)).all()


def test_pooled_phonon_rms_weights_each_branch_by_its_points():
    deviations = pd.DataFrame({"n_points": [1, 3, 0], "rms_THz": [2.0, 1.0, np.nan]})
    rms, n_points = offtarget.overall_phonon_rms(deviations)
    assert n_points == 4 and rms == pytest.approx(np.sqrt((4 + 3) / 4))


def test_paper_comparison_puts_off_target_numbers_next_to_experiment():
    measured = load_liquid_rdf()
    r = np.arange(0.0025, 0.6, 0.005)
    structure = {"temperature_K": 1965.0, "r": r,
                 "g": np.interp(r / ANGSTROM, measured["r_angstrom"], measured["g_r"])}
    series = load_self_diffusion_series()
    diffusion = {"temperature_K": series["T_K"].to_numpy(), "D": 2 * series["D_m2_per_s"].to_numpy() * M2_PER_S}
    frame = tables.paper_comparison({"fused": "dft_exp_fused"}, {}, structure={"fused": structure},
                                    diffusion={"fused": diffusion})
    row = frame.set_index("quantity")
    assert row.loc["rdf_first_peak_position", "this_run"] == pytest.approx(
        row.loc["rdf_first_peak_position", "experiment"], rel=0.01)
    assert row.loc["rdf_first_peak_position", "unit"] == "Angstrom"
    diffusion_rows = row[row.index.str.startswith("self_diffusion_")]
    assert len(diffusion_rows) == len(series)
    # twice the measured D: the Arrhenius line through it is twice the measured line, within the data's scatter
    np.testing.assert_allclose(diffusion_rows["this_run"] / diffusion_rows["experiment"], 2.0, rtol=0.05)
    assert np.isnan(row.loc["energy_rmse", "experiment"]) and row.loc["energy_rmse", "paper"] == 7.9
