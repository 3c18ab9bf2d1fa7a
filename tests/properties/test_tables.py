"""Table 2 and the paper comparison from property arrays: rows, columns, units and the join with the paper."""
import numpy as np
import pandas as pd
import pytest

from tifusion.data.experiment import load_hcp_experiment
from tifusion.io import save_npz
from tifusion.observables.elasticity import HEXAGONAL_CONSTANTS
from tifusion.properties import tables
from tifusion.units import ANGSTROM, GPA

LABELS = {"dft_pretrained": "DFT pre-trained", "fused": "DFT & EXP fused"}


def bcc(c11, c12, c44):
    return {"temperature_K": 1273.0, "C11": c11 * GPA, "C12": c12 * GPA, "C44": c44 * GPA,
            "C11_err": 1.0 * GPA, "C12_err": 2.0 * GPA, "C44_err": 0.5 * GPA}


def hcp_from_experiment(temperatures, factor):
    """hcp property arrays whose constants are the experimental ones times ``factor``."""
    rows = load_hcp_experiment().set_index("temperature_K").loc[temperatures]
    c = {name: rows[f"{name}_GPa"].to_numpy() * factor for name in ("C11", "C12", "C13", "C33", "C44")}
    k = 2 / 9 * (c["C11"] + c["C12"] + 2 * c["C13"] + c["C33"] / 2)
    g = (12 * c["C44"] + 7 * c["C11"] - 5 * c["C12"] + 2 * c["C33"] - 4 * c["C13"]) / 30
    return {"temperature_K": np.asarray(temperatures, float), "K": k * GPA, "G": g * GPA,
            "nu": (3 * k - 2 * g) / (2 * g + 6 * k)}


def test_table2_lists_models_then_the_three_experiments_in_gpa():
    frame = tables.table2({"dft_pretrained": bcc(98.4, 79.4, 27.4), "fused": bcc(112.0, 85.3, 32.5)}, LABELS)
    assert list(frame.columns) == tables.TABLE2_COLUMNS
    assert list(frame["kind"]) == ["model", "model", "experiment", "experiment", "experiment"]
    assert list(frame["source"][:2]) == ["DFT pre-trained", "DFT & EXP fused"]
    np.testing.assert_allclose(frame["C11_GPa"], [98.4, 112.0, 97.7, 134.0, 99.0])
    np.testing.assert_allclose(frame["C44_err_GPa"][:2], [0.5, 0.5])
    assert frame["C44_err_GPa"][2:].isna().all() and frame["temperature_K"][3] == 1293
    assert frame["source"][2].startswith("EXP Ledbetter")


def test_paper_comparison_joins_this_run_with_the_paper_per_quantity_and_model():
    temperatures = [23.0, 323.0, 623.0, 923.0]
    experiment = load_hcp_experiment().set_index("temperature_K").loc[temperatures]
    lattice = {"temperature_K": np.array(temperatures), "a": experiment["a_angstrom"].to_numpy() * ANGSTROM * 1.002,
               "c": experiment["c_angstrom"].to_numpy() * ANGSTROM * 0.999}
    table1 = pd.DataFrame({"model": ["dft_pretrained"], "label": ["x"], "energy_rmse": [3.5], "force_rmse": [80.0],
                           "virial_rmse": [30.0]})
    frame = tables.paper_comparison(
        {"dft_pretrained": "dft_pretrained", "fused": "dft_exp_fused"}, LABELS, table1,
        bcc={"fused": bcc(110.0, 80.0, 30.0)},
        hcp={"dft_pretrained": hcp_from_experiment(temperatures, 1.0),
             "fused": hcp_from_experiment(temperatures, 1.1)},
        lattice={"fused": lattice})
    assert list(frame.columns) == tables.COMPARISON_COLUMNS
    row = frame.set_index(["quantity", "model"])
    assert row.loc[("energy_rmse", "dft_pretrained"), "this_run"] == 3.5
    assert row.loc[("energy_rmse", "dft_pretrained"), "paper"] == 6.0
    assert row.loc[("force_rmse", "dft_pretrained"), "unit"] == "meV/Angstrom"
    assert row.loc[("energy_rmse", "dft_pretrained"), "comparable"] == "yes"
    # the paper's virial adds a force term to the strain derivative: no comparison, whatever the numbers
    assert row.loc[("virial_rmse", "dft_pretrained"), "comparable"].startswith("not comparable")
    assert "-dU/d(strain)" in row.loc[("virial_rmse", "dft_pretrained"), "definition"]
    assert row.loc[("energy_rmse", "fused"), "comparable"] == ""  # nothing of this run to compare
    assert np.isnan(row.loc[("energy_rmse", "fused"), "this_run"])  # no Table 1 row for it
    assert row.loc[("energy_rmse", "fused"), "paper"] == 7.9
    assert row.loc[("bcc_C11_1273K", "fused"), "this_run"] == pytest.approx(110.0)
    assert row.loc[("bcc_C11_1273K", "fused"), "paper"] == 112.0
    # Experimental constants give zero deviation; scaling all C_ij by 1.1 scales K and G by 1.1, leaves nu.
    assert row.loc[("mean_rel_dev_bulk_modulus_4_973K", "dft_pretrained"), "this_run"] == pytest.approx(0, abs=1e-9)
    assert row.loc[("mean_rel_dev_bulk_modulus_4_973K", "dft_pretrained"), "paper"] == 6
    assert row.loc[("mean_rel_dev_shear_modulus_4_973K", "fused"), "this_run"] == pytest.approx(10.0)
    assert row.loc[("mean_rel_dev_poisson_ratio_4_973K", "fused"), "this_run"] == pytest.approx(0, abs=1e-9)
    assert row.loc[("max_rel_dev_K_G_nu_4_973K", "fused"), "this_run"] == pytest.approx(10.0)
    assert row.loc[("max_rel_dev_K_G_nu_4_973K", "fused"), "paper"] == 3
    assert row.loc[("max_rel_dev_lattice_constants_4_973K", "fused"), "this_run"] == pytest.approx(0.2)
    assert "4 temperatures 23-923 K" in row.loc[("max_rel_dev_lattice_constants_4_973K", "fused"), "definition"]
    assert len(frame) == len(frame.drop_duplicates(["quantity", "model"]))


def test_table_writers_read_property_files(tmp_path):
    path = tmp_path / "bcc.npz"
    save_npz(path, bcc(100.0, 80.0, 30.0), {"synthetic": True})
    tables.write_table2({"fused": path}, LABELS, tmp_path / "table2.csv")
    written = pd.read_csv(tmp_path / "table2.csv")
    assert written["C12_GPa"][0] == pytest.approx(80.0) and len(written) == 4
    tables.write_paper_comparison({"fused": "dft_exp_fused"}, LABELS, tmp_path / "comparison.csv",
                                  bcc_paths={"fused": path})
    comparison = pd.read_csv(tmp_path / "comparison.csv")
    assert set(comparison["model"]) == {"fused"}
    assert (tmp_path / "comparison.csv.meta.json").exists()


def test_deviations_refuse_temperatures_without_experiment():
    with pytest.raises(ValueError, match="not rows of the experimental table"):
        tables.experimental_moduli([300.0])


def hcp_constants(temperatures, shift_gpa):
    """hcp property arrays: experimental C_ij plus ``shift_gpa``, pressure 1 GPa, errors 0.5 GPa."""
    rows = load_hcp_experiment().set_index("temperature_K").loc[temperatures]
    result = {"temperature_K": np.asarray(temperatures, float),
              "pressure": np.ones(len(temperatures)) * GPA, "pressure_err": np.full(len(temperatures), 0.5 * GPA)}
    for name in HEXAGONAL_CONSTANTS:
        result[name] = (rows[f"{name}_GPa"].to_numpy() + shift_gpa) * GPA
        result[f"{name}_err"] = np.full(len(temperatures), 0.5 * GPA)
    return result


def test_exp_targets_rows_models_then_experiment_with_deviations_in_gpa():
    metrics = {"dft_pretrained": {"energy_rmse": 3.0, "force_rmse": 80.0},
               "fused": {"energy_rmse": 4.0, "force_rmse": 90.0}}
    frame = tables.exp_targets({"dft_pretrained": hcp_constants([23.0, 323.0], -10.0),
                                "fused": hcp_constants([323.0, 923.0], 2.0)},
                               metrics, LABELS, {"fused": [323, 923]})
    assert list(frame.columns) == tables.EXP_TARGET_COLUMNS
    assert list(frame["kind"]) == ["model"] * 4 + ["experiment"] * 3
    assert list(frame["temperature_K"][4:]) == [23.0, 323.0, 923.0]  # every simulated temperature, once
    assert list(frame["trained_at"][:4]) == [False, False, True, True]
    np.testing.assert_allclose(frame["C44_dev_GPa"][:4], [-10.0, -10.0, 2.0, 2.0])
    np.testing.assert_allclose(frame["pressure_GPa"][:4], 1.0)
    np.testing.assert_allclose(frame["C11_err_GPa"][:4], 0.5)
    experiment_323 = load_hcp_experiment().set_index("temperature_K").loc[323.0]
    assert frame["C11_GPa"][5] == pytest.approx(experiment_323["C11_GPa"])
    assert frame["C11_GPa"][2] == pytest.approx(experiment_323["C11_GPa"] + 2.0)
    assert list(frame["force_rmse_meV_per_angstrom"][:4]) == [80.0, 80.0, 90.0, 90.0]
    assert frame["C11_err_GPa"][4:].isna().all() and (frame["pressure_GPa"][4:] == 0).all()


def test_static_elastic_rows_are_the_teachers_published_0K_values_and_experiment_at_4K(tmp_path):
    path = tmp_path / "static_elastic.csv"
    tables.write_static_elastic({}, LABELS, path, teacher=True)
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert list(frame.columns) == tables.STATIC_COLUMNS
    assert list(frame["kind"]) == ["teacher", "experiment"]
    # docs/reference_potential.md: Zhou 2004 Ti at 0 K (relaxed ions; exact lattice sums, LAMMPS to 0.1 GPa), and
    # experiment at 4 K with C66 = (C11 - C12) / 2 = 44.6 GPa.
    published = {"teacher": dict(a_angstrom=2.9402, c_angstrom=4.7723, C11_GPa=147.7, C12_GPa=88.5, C13_GPa=68.8,
                                 C33_GPa=203.2, C44_GPa=36.6, C66_GPa=29.6),
                 "experiment": dict(a_angstrom=2.944, c_angstrom=4.678, C11_GPa=176.1, C12_GPa=86.9, C13_GPa=68.3,
                                    C33_GPa=190.5, C44_GPa=50.8, C66_GPa=44.6)}
    for _, row in frame.iterrows():
        for column, value in published[row["kind"]].items():
            assert row[column] == pytest.approx(value, abs=1e-3 if "angstrom" in column else 0.5), (row["kind"], column)
        assert row["c_over_a"] == pytest.approx(row["c_angstrom"] / row["a_angstrom"])


@pytest.mark.slow
def test_static_elastic_notes_a_model_without_an_hcp_minimum_instead_of_failing(tmp_path):
    import jax

    from tifusion.io import provenance
    from tifusion.model.dimenet import PAPER_HYPERPARAMETERS, make_dimenet
    from tifusion.model.io import save_model

    # An untrained DimeNet++: its 2-atom hcp cell blows up (volume x5) or collapses under relaxation.
    hyperparameters = dict(PAPER_HYPERPARAMETERS, embed_size=8, out_embed_size=8, triplet_embed_size=4,
                           basis_embed_size=2, num_blocks=1, num_spherical=3, num_radial=3)
    model_path = tmp_path / "model.npz"
    save_model(model_path, hyperparameters, make_dimenet(hyperparameters).init(jax.random.PRNGKey(1)),
               provenance({"model": hyperparameters}))
    path = tmp_path / "static_elastic.csv"
    tables.write_static_elastic({"fused": model_path}, LABELS, path)
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert list(frame["kind"]) == ["model", "experiment"]
    model = frame.iloc[0]
    assert model["source"] == "DFT & EXP fused" and "no minimum near the starting structure" in model["note"]
    assert np.isnan(model[[f"{name}_GPa" for name in tables.STATIC_CONSTANTS]].astype(float)).all()
