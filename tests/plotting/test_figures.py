"""Figures 2-7 from synthetic property files: every figure is written (PDF, PNG, provenance) for any
subset of models, including none, and the plotted numbers are the files' numbers in the paper's units."""
import json

import numpy as np
import pandas as pd
import pytest

from tifusion.data.experiment import load_hcp_experiment
from tifusion.io import save_npz
from tifusion.plotting import figures
from tifusion.plotting.dft import plot_fig2
from tifusion.units import GPA, M2_PER_S

MODELS = {"dft_pretrained": {"label": "DFT pre-trained", "color": "tab:red"},
          "dft_exp_fused": {"label": "DFT & EXP fused", "color": "tab:blue"}}
TEMPERATURES = np.array([23.0, 323.0, 623.0])


def hcp_elastic(shift):
    n = len(TEMPERATURES)
    result = {"temperature_K": TEMPERATURES}
    for name, value in dict(C11=160, C33=180, C44=45, C12=90, C13=69, K=110, G=44, pressure=0.1).items():
        result[name] = np.full(n, value * (1 + shift)) * GPA
        result[f"{name}_err"] = np.full(n, 1.0) * GPA
    result["nu"], result["nu_err"] = np.full(n, 0.32 + shift), np.full(n, 0.005)
    return result


def lattice(x_name, x_values, shift):
    n = len(x_values)
    result = {x_name: np.asarray(x_values, dtype=float), "a": np.full(n, 0.295 * (1 + shift)),
              "c": np.full(n, 0.468 * (1 + shift)), "a_err": np.full(n, 1e-4), "c_err": np.full(n, 2e-4)}
    if x_name == "target_pressure":
        result["target_pressure"] = result["target_pressure"] * GPA
        result["temperature_K"] = np.full(n, 300.0)
    return result


def phonons(scale):
    distances = np.linspace(0, 30.0, 5 * 4)
    frequencies = scale * np.abs(np.sin(distances[:, None] / 10 + np.arange(6)[None, :]))
    return {"a": 0.295, "c": 0.468, "distances": distances, "frequencies": frequencies,
            "labels": np.array(["Gamma", "M", "K", "Gamma", "A"]), "label_distances": np.array([0, 8, 13, 23, 30.0]),
            "dos_frequencies": np.linspace(0, 8, 50), "dos": scale * np.exp(-(np.linspace(0, 8, 50) - 5) ** 2)}


def liquid(scale):
    r = np.linspace(0.005, 0.795, 80)
    theta = np.linspace(0.5, 179.5, 180)
    return {"temperature_K": 1965.0, "r": r, "g": 1 + scale * np.exp(-((r - 0.285) / 0.03) ** 2), "theta": theta,
            "adf": np.sin(np.radians(theta)) / 114.6, "adf_r_max": 0.4}


def diffusion(scale):
    t = np.array([1953.0, 2000.0, 2060.0, 2110.0])
    return {"temperature_K": t, "D": scale * 5e-9 * M2_PER_S * t / 2000, "D_err": np.full(4, 0.3e-9 * M2_PER_S)}


def dft_predictions(shift):
    phases = np.array(["hcp", "hcp", "fcc", "bcc"])
    n_atoms = np.array([2, 2, 4, 2])
    volume = np.array([35.0, 36.0, 70.0, 34.0]) * 1e-3
    reference = np.array([-10.0, -10.1, -20.0, -9.9]) * 96.485
    return {"phase": phases, "n_atoms": n_atoms, "volume": volume, "energy_reference": reference,
            "energy_model": reference * (1 + shift)}


# the model records as the two trainers write them (training.dft.run_pretraining, training.fused.run_training)
TRAINING_RECORDS = {"dft_pretrained": {"selection": {"epoch": 30}, "selection_rule": "lowest DFT validation loss"},
                    "dft_exp_fused": {"selection": {"epoch": 0, "initial_model_kept": True}}}


def test_fig2_is_written_from_test_predictions_of_pretrained_and_exp_models(tmp_path):
    paths = {}
    for model, shift in {"dft_pretrained": 0.0, "dft_exp_fused": 0.01}.items():
        paths[model] = tmp_path / model / "dft_test_predictions.npz"
        save_npz(paths[model], dft_predictions(shift), {"model_metadata": TRAINING_RECORDS[model]})
    outputs = [tmp_path / "fig2.pdf", tmp_path / "fig2.png"]
    plot_fig2(paths, MODELS, outputs, "reference EAM")
    check_outputs(outputs, list(paths))


def write(tmp_path, kind, data_by_model):
    paths = {}
    for model, data in data_by_model.items():
        paths[model] = tmp_path / model / f"{kind}.npz"
        save_npz(paths[model], data, {"synthetic": True})
    return paths


def check_outputs(paths, inputs):
    for path in paths:
        assert path.stat().st_size > 1000
        record = json.loads(path.with_name(path.name + ".meta.json").read_text())
        assert json.dumps(record["config"]["inputs"], default=str)  # sources are recorded
    assert paths[0].read_bytes()[:4] == b"%PDF" and paths[1].read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("models", [list(MODELS), ["dft_exp_fused"], []])
def test_every_figure_is_written_for_any_subset_of_models(tmp_path, models):
    shifts = {"dft_pretrained": -0.1, "dft_exp_fused": 0.01}
    cases = {
        "fig3": lambda out: figures.plot_elastic_lattice(
            write(tmp_path, "hcp_elastic", {m: hcp_elastic(shifts[m]) for m in models}),
            write(tmp_path, "lattice_temperature", {m: lattice("temperature_K", TEMPERATURES, shifts[m])
                                                     for m in models}), MODELS, out),
        "fig4": lambda out: figures.plot_phonons(write(tmp_path, "phonons", {m: phonons(1 + shifts[m]) for m in models}),
                                                 MODELS, out, tmp_path / "phonon_deviations.csv"),
        "fig5": lambda out: figures.plot_liquid(
            write(tmp_path, "liquid_structure", {m: liquid(1 + shifts[m]) for m in models}),
            write(tmp_path, "self_diffusion", {m: diffusion(1 + shifts[m]) for m in models}), MODELS, out),
        "fig6": lambda out: figures.plot_pressure(
            write(tmp_path, "lattice_pressure", {m: lattice("target_pressure", [0, 4, 8], shifts[m]) for m in models}),
            MODELS, out),
    }
    for name, plot in cases.items():
        outputs = [tmp_path / f"{name}.pdf", tmp_path / f"{name}.png"]
        plot(outputs)
        check_outputs(outputs, models)
    deviations = pd.read_csv(tmp_path / "phonon_deviations.csv", comment="#")
    assert sorted(set(deviations["model"])) == sorted(models)
    assert (deviations["n_points"] > 0).all() and np.isfinite(deviations["rms_THz"].astype(float)).all()


def test_elastic_figure_plots_the_files_numbers_in_gpa_and_angstrom():
    styles = {m: (MODELS[m]["label"], MODELS[m]["color"]) for m in MODELS}
    hcp = {"dft_exp_fused": hcp_elastic(0.0)}
    lat = {"dft_exp_fused": lattice("temperature_K", TEMPERATURES, 0.0)}
    fig = figures.elastic_lattice_figure(hcp, lat, styles)
    axes = fig.axes
    experiment = load_hcp_experiment()

    def line(ax, label):
        return next(l for l in ax.get_lines() if l.get_label() == label)

    def points(ax, label):
        return next(c for c in ax.containers if c.get_label() == label).lines[0].get_ydata()

    np.testing.assert_allclose(points(axes[0], "DFT & EXP fused"), 110.0)  # K in GPa
    np.testing.assert_allclose(points(axes[2], "DFT & EXP fused"), 0.32)  # nu
    np.testing.assert_allclose(points(axes[3], "DFT & EXP fused"), 2.95)  # a in Angstrom
    np.testing.assert_allclose(line(axes[4], "experiment").get_ydata(), experiment["c_angstrom"])
    # Experimental K at 4 K from the Voigt formula: (2/9)(176.1 + 86.9 + 2 * 68.3 + 190.5 / 2)
    assert line(axes[0], "experiment").get_ydata()[0] == pytest.approx(2 / 9 * (176.1 + 86.9 + 2 * 68.3 + 95.25))


def _open_markers(ax):
    """(x, y) of the open (white-faced) markers in ``ax``."""
    lines = [l for l in ax.get_lines() if l.get_markerfacecolor() == "white"]
    return [(x, y) for l in lines for x, y in zip(l.get_xdata(), l.get_ydata())]


@pytest.mark.parametrize("figure", ["temperature", "pressure"])
def test_lattice_errors_that_are_only_lower_bounds_get_open_markers_and_a_note(figure):
    styles = {m: (MODELS[m]["label"], MODELS[m]["color"]) for m in MODELS}
    x_name, x = ("temperature_K", TEMPERATURES) if figure == "temperature" else ("target_pressure", [0.0, 4.0, 8.0])
    result = lattice(x_name, x, 0.0)
    result["a_resolved"] = np.array([True, False, True])
    result["c_resolved"] = np.array([True, True, True])

    def draw(data):
        if figure == "temperature":
            fig = figures.elastic_lattice_figure({}, {"dft_exp_fused": data}, styles)
            return fig, fig.axes[3], fig.axes[4]
        fig = figures.pressure_figure({"dft_exp_fused": data}, styles)
        return fig, fig.axes[0], fig.axes[1]

    def notes(fig):
        return " ".join(t.get_text() for t in fig.texts)

    fig, ax_a, ax_c = draw(result)
    np.testing.assert_allclose(_open_markers(ax_a), [(x[1], 2.95)])  # only the unresolved point, in Angstrom
    assert _open_markers(ax_c) == []
    assert "lower bound" in notes(fig)
    result["a_resolved"][:] = True
    fig, ax_a, _ = draw(result)
    assert _open_markers(ax_a) == [] and "lower bound" not in notes(fig)
