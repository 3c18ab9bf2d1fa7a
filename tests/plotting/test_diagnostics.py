"""Training curves, DFT parity, C_ij(T) and VACF figures from synthetic files: written with provenance, and the
plotted numbers are the files' numbers in the figure's units."""
import numpy as np
import pandas as pd
import pytest

from tifusion.io import save_npz
from tifusion.plotting import diagnostics
from tifusion.units import ANGSTROM, EV, GPA

MODELS = {"dft_pretrained": {"label": "DFT pre-trained", "color": "tab:red"},
          "dft_exp_fused": {"label": "DFT & EXP fused", "color": "tab:blue"}}


def exp_history(temperatures=(23, 323), epochs=2):
    """A fused model's history as train_schedule writes it: one row per trained epoch, then the final model."""
    rows = []
    for epoch in range(1, epochs + 2):
        row = {"epoch": epoch, "trained": epoch <= epochs, "exp_loss": 0.01 / epoch, "exp_loss_err": 0.001}
        for t in temperatures:
            row[f"loss_{t}K"], row[f"loss_{t}K_err"] = 0.01, 0.001
            for name in diagnostics.TARGETS:
                row[f"{name}_{t}K_GPa"], row[f"{name}_{t}K_err_GPa"] = 100.0 + epoch, 2.0
            row[f"n_eff_{t}K"], row[f"step_fraction_{t}K"] = 18.0, 0.5
        row["dft_val_force_rmse"] = 40.0 + epoch
        rows.append(row)
    return pd.DataFrame(rows)


def test_exp_temperatures_are_read_from_the_loss_columns():
    assert diagnostics.exp_temperatures(exp_history((23, 923))) == [23.0, 923.0]
    assert diagnostics.exp_temperatures(pd.DataFrame({"epoch": [1], "val_loss": [1.0]})) == []


def test_training_figure_of_an_exp_model_draws_each_estimate_at_the_model_it_was_made_on():
    fig = diagnostics.training_figure(exp_history(), "fused")
    c11 = fig.axes[0]
    lines = [line for line in c11.get_lines() if len(line.get_xdata()) == 3]
    np.testing.assert_array_equal(lines[0].get_xdata(), [0, 1, 2])  # initial model, after epoch 1, final
    np.testing.assert_array_equal(lines[0].get_ydata(), [101, 102, 103])
    dft = fig.axes[8].get_lines()[0]
    np.testing.assert_array_equal(dft.get_xdata(), [1, 2])  # DFT epochs make the models after epochs 1 and 2


def test_training_curves_are_written_for_both_trainers(tmp_path):
    exp_path, dft_path = tmp_path / "exp.csv", tmp_path / "dft.csv"
    exp_history().to_csv(exp_path, index=False)
    pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [3.0, 2.0, 1.0], "val_loss": [3.5, 2.5, 1.5],
                  "val_force_rmse": [90.0, 60.0, 40.0]}).to_csv(dft_path, index=False)
    for path in (exp_path, dft_path):
        outputs = [tmp_path / f"{path.stem}.pdf", tmp_path / f"{path.stem}.png"]
        diagnostics.plot_training(path, "a model", outputs)
        assert outputs[0].read_bytes()[:4] == b"%PDF" and outputs[1].with_name(outputs[1].name + ".meta.json").exists()


def predictions(scale):
    rng = np.random.default_rng(0)
    n_atoms = np.array([2, 4])
    mask = np.array([[True, True, False, False], [True] * 4])
    forces = rng.normal(size=(2, 4, 3)) * EV / ANGSTROM * mask[..., None]
    virial = rng.normal(size=(2, 3, 3)) * 1e-3 * EV
    energy = np.array([-9.7, -19.5]) * EV
    return {"n_atoms": n_atoms, "atom_mask": mask, "energy_reference": energy, "energy_model": energy * scale,
            "forces_reference": forces, "forces_model": forces * scale, "virial_reference": virial,
            "virial_model": virial * scale}


def test_parity_plots_the_files_numbers_in_ev_and_mev():
    styles = {m: (MODELS[m]["label"], MODELS[m]["color"]) for m in MODELS}
    fig = diagnostics.parity_figure({"dft_pretrained": predictions(1.0), "dft_exp_fused": predictions(1.1)}, styles)
    energy, forces, virial = (ax.get_lines()[0] for ax in fig.axes)
    np.testing.assert_allclose(energy.get_xdata(), [-4.85, -4.875])  # eV/atom
    assert len(forces.get_xdata()) == 6 * 3  # only real atoms: 2 + 4, three components each
    reference = predictions(1.0)
    np.testing.assert_allclose(virial.get_xdata(), (reference["virial_reference"] / reference["n_atoms"][:, None, None]
                                                    ).ravel() / (1e-3 * EV))
    assert "RMSE 0.0" in fig.axes[0].get_legend().get_texts()[0].get_text()


def test_elastic_temperature_and_vacf_figures_are_written(tmp_path):
    temperatures = np.array([23.0, 323.0])
    hcp = {"temperature_K": temperatures}
    for name in ("C11", "C33", "C44", "C12", "C13", "pressure"):
        hcp[name], hcp[f"{name}_err"] = np.full(2, 100.0) * GPA, np.full(2, 1.0) * GPA
    time = np.linspace(0, 0.5, 11)
    diffusion = {"temperature_K": np.array([1953.0, 2110.0]), "vacf_time": np.stack([time, time]),
                 "vacf": np.stack([np.exp(-time / 0.05)] * 2), "vacf_err": np.full((2, 11), 0.01)}
    paths = {}
    for name, arrays in (("hcp", hcp), ("diffusion", diffusion)):
        paths[name] = {m: tmp_path / f"{name}_{m}.npz" for m in MODELS}
        for path in paths[name].values():
            save_npz(path, arrays, {"synthetic": True})
    outputs = [tmp_path / "cij.pdf", tmp_path / "cij.png"]
    diagnostics.plot_elastic_temperature(paths["hcp"], MODELS, outputs)
    assert outputs[1].read_bytes()[:4] == b"\x89PNG"
    fig = diagnostics.elastic_temperature_figure({"dft_pretrained": hcp}, {"dft_pretrained": ("pre", "red")})
    (c11_points,) = [c for c in fig.axes[0].containers if c.get_label() == "pre"]
    np.testing.assert_allclose(c11_points.lines[0].get_ydata(), [100.0, 100.0])  # GPa
    outputs = [tmp_path / "vacf.pdf", tmp_path / "vacf.png"]
    diagnostics.plot_vacf(paths["diffusion"], MODELS, outputs)
    assert outputs[0].read_bytes()[:4] == b"%PDF"


@pytest.mark.parametrize("quantity", ["forces", "virial"])
def test_parity_leaves_out_what_an_older_predictions_file_lacks(quantity):
    old = {k: v for k, v in predictions(1.0).items() if not k.startswith(quantity)}
    assert diagnostics._parity_pair(old, quantity) == (None, None)
