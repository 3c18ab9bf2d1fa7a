"""Figures that show how training went and what lies behind the headline numbers (the paper's SI Figs. 1, 3, 4, 6, 7).

- :func:`training_figure`: one model's training history (``history.csv`` of either trainer): DFT losses and
  validation errors per epoch; for EXP-trained models each target constant and the pressure at every training
  temperature per update, with error bars and the experimental value, the effective sample size and the step
  fraction the guard allowed.
- :func:`parity_figure`: DFT test-set energies, forces and virials of each model against the reference labels.
- :func:`elastic_temperature_figure`: C11, C33, C44, C12, C13 and the pressure of each model against temperature,
  with experiment.
- :func:`vacf_figure`: the velocity autocorrelation functions behind the self-diffusion coefficients.
"""
import re

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import pandas as pd

from tifusion.data.experiment import load_hcp_experiment
from tifusion.io import provenance
from tifusion.observables.elasticity import HEXAGONAL_CONSTANTS
from tifusion.plotting.figures import _errorbar, _legend, _load, _note, _styles
from tifusion.plotting.style import REFERENCE_STYLE, save_figure
from tifusion.units import ANGSTROM, EV, GPA

TARGETS = HEXAGONAL_CONSTANTS + ("P",)
TEMPERATURE_COLORS = plt.get_cmap("coolwarm")


def read_history(path):
    """A ``history.csv`` (comment lines skipped)."""
    return pd.read_csv(path, comment="#")


def exp_temperatures(history):
    """The training temperatures of an EXP history (from its ``loss_<T>K`` columns)."""
    return sorted(float(m.group(1)) for c in history.columns if (m := re.fullmatch(r"loss_([\d.]+)K", c)))


def _dft_panels(history, axes, prefix=""):
    """Losses (log scale) and validation force RMSE per epoch of the DFT trainer's columns."""
    epoch = history["epoch"]
    for name, style in ((f"{prefix}train_loss", "-"), (f"{prefix}val_loss", "--")):
        if name in history:
            axes[0].plot(epoch, history[name], style, color="black", marker="o", markersize=3,
                         label=name.removeprefix(prefix).replace("_", " "))
    axes[0].set_yscale("log")
    axes[0].set_ylabel("DFT loss")
    force = f"{prefix}val_force_rmse"
    if force in history:
        axes[1].plot(epoch, history[force], color="black", marker="o", markersize=3)
    axes[1].set_ylabel("validation force RMSE (meV/Å)")
    for ax in axes:
        ax.set_xlabel("epoch")
    _legend(axes[0], fontsize=7)


def training_figure(history, label, experiment=None):
    """The training history of one model (see the module docstring)."""
    temperatures = exp_temperatures(history)
    if not temperatures:  # DFT pre-training
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
        _dft_panels(history, axes)
        fig.suptitle(label, fontsize=10)
        fig.tight_layout()
        return fig
    experiment = (load_hcp_experiment() if experiment is None else experiment).set_index("temperature_K")
    fig, axes = plt.subplots(3, 3, figsize=(11, 8.5))
    # row epoch k holds the estimate on the model after epoch k - 1 (the last row: the final model, scored)
    after = history["epoch"] - 1
    for i, (ax, name) in enumerate(zip(axes.flat[:len(TARGETS)], TARGETS)):
        for j, temperature in enumerate(temperatures):
            color = TEMPERATURE_COLORS(j / max(1, len(temperatures) - 1))
            column = f"{name}_{temperature:g}K_GPa"
            _errorbar(ax, after, history[column], history[f"{name}_{temperature:g}K_err_GPa"], color,
                      f"{temperature:g} K")
            target = 0.0 if name == "P" else experiment.loc[temperature, f"{name}_GPa"]
            ax.axhline(target, color=color, linestyle="--", linewidth=1)
        ax.set_ylabel(f"{'pressure' if name == 'P' else name} (GPa)")
        if i == 0:
            _legend(ax, fontsize=7, title="dashed: experiment", title_fontsize=7)
    ax_neff, ax_step, ax_dft = axes.flat[len(TARGETS):]
    # the step and the DFT epoch of epoch k make the model after epoch k
    trained = history[history["trained"].astype(bool)]
    for j, temperature in enumerate(temperatures):
        color = TEMPERATURE_COLORS(j / max(1, len(temperatures) - 1))
        ax_neff.plot(after, history[f"n_eff_{temperature:g}K"], color=color, marker="o", markersize=3)
        step = trained.get(f"step_fraction_{temperature:g}K")
        if step is not None:
            ax_step.plot(trained["epoch"], step, color=color, marker="o", markersize=3)
    ax_neff.set_ylabel("effective sample size n_eff")
    ax_step.set_ylabel("fraction of the step the guard allowed")
    if "dft_val_force_rmse" in trained and trained["dft_val_force_rmse"].notna().any():
        ax_dft.plot(trained["epoch"], trained["dft_val_force_rmse"], color="black", marker="o", markersize=3)
        ax_dft.set_ylabel("DFT validation force RMSE (meV/Å)")
    else:
        _note(ax_dft, "no DFT epochs (EXP only)")
    for ax in axes.flat:
        ax.set_xlabel("model after epoch (0: initial)")
        ax.set_xlim(-0.3, after.max() + 0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"{label}: EXP estimates per update (the last point: the final model, scored)", fontsize=10)
    fig.tight_layout()
    return fig


def parity_figure(predictions, styles):
    """Energy per atom (eV), force components (eV/Å) and virial per atom (meV) of the DFT test set: model against
    reference, one colour per model, with each model's RMSE in its legend entry."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    quantities = (("energy", "energy per atom (eV)"), ("forces", "force component (eV/Å)"),
                  ("virial", "virial per atom (meV)"))
    for model, result in predictions.items():
        label, color = styles[model]
        for ax, (name, _) in zip(axes, quantities):
            reference, value = _parity_pair(result, name)
            if reference is None:
                continue
            rmse = np.sqrt(np.mean((value - reference) ** 2))
            unit = {"energy": "meV/atom", "forces": "meV/Å", "virial": "meV/atom"}[name]
            scale = 1e3 if name != "virial" else 1.0
            ax.plot(reference, value, ".", color=color, markersize=3, alpha=0.6,
                    label=f"{label}: RMSE {scale * rmse:.1f} {unit}")
    for ax, (name, title) in zip(axes, quantities):
        low, high = ax.get_xlim()
        ax.plot([low, high], [low, high], **REFERENCE_STYLE, linewidth=1)
        ax.set_xlabel(f"reference {title}")
        ax.set_ylabel(f"model {title}")
        _legend(ax, fontsize=6)
    fig.tight_layout()
    return fig


def _parity_pair(result, name):
    """(reference, model) flat arrays of one quantity in the figure's units, or (None, None) if not in the file."""
    n_atoms = np.asarray(result["n_atoms"], float)
    if name == "energy":
        return (np.asarray(result["energy_reference"]) / n_atoms / EV,
                np.asarray(result["energy_model"]) / n_atoms / EV)
    if f"{name}_model" not in result:
        return None, None
    reference, model = np.asarray(result[f"{name}_reference"]), np.asarray(result[f"{name}_model"])
    if name == "forces":
        mask = np.asarray(result["atom_mask"], bool)
        return reference[mask].ravel() / (EV / ANGSTROM), model[mask].ravel() / (EV / ANGSTROM)
    per_atom = n_atoms[:, None, None]
    return (reference / per_atom).ravel() / (EV * 1e-3), (model / per_atom).ravel() / (EV * 1e-3)


def elastic_temperature_figure(hcp, styles, experiment=None):
    """C11, C33, C44, C12, C13 and pressure of each model against temperature, experiment dashed."""
    experiment = load_hcp_experiment() if experiment is None else experiment
    fig, axes = plt.subplots(2, 3, figsize=(11, 6))
    for ax, name in zip(axes.flat, HEXAGONAL_CONSTANTS + ("pressure",)):
        if name == "pressure":
            ax.axhline(0.0, label="target (zero pressure)", **REFERENCE_STYLE, linewidth=1)
        else:
            ax.plot(experiment["temperature_K"], experiment[f"{name}_GPa"], label="experiment", **REFERENCE_STYLE,
                    linewidth=1)
        for model, result in hcp.items():
            label, color = styles[model]
            _errorbar(ax, result["temperature_K"], np.asarray(result[name]) / GPA,
                      np.asarray(result[f"{name}_err"]) / GPA, color, label)
        ax.set_xlabel("temperature (K)")
        ax.set_ylabel(f"{name} (GPa)")
    _legend(axes.flat[0], fontsize=7)
    fig.tight_layout()
    return fig


def vacf_figure(diffusion, styles):
    """Normalized velocity autocorrelation per model and temperature (line style per temperature)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    styles_by_temperature = ["-", "--", ":", "-."]
    for model, result in diffusion.items():
        label, color = styles[model]
        for i, temperature in enumerate(np.atleast_1d(result["temperature_K"])):
            vacf, error = np.asarray(result["vacf"][i]), np.asarray(result["vacf_err"][i])
            time = np.asarray(result["vacf_time"][i])
            ax.plot(time, vacf / vacf[0], styles_by_temperature[i % 4], color=color,
                    label=f"{label}, {float(temperature):g} K")
            ax.fill_between(time, (vacf - error) / vacf[0], (vacf + error) / vacf[0], color=color, alpha=0.2)
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("VACF / VACF(0)")
    _legend(ax, fontsize=7)
    fig.tight_layout()
    return fig


def plot_training(history_path, label, outputs):
    """The ``training_curves`` rule: one model's history as a figure."""
    fig = training_figure(read_history(history_path), label)
    save_figure(fig, outputs, provenance({"inputs": {"history": str(history_path)}}, None))


def plot_parity(prediction_paths, models_config, outputs):
    """The ``dft_parity`` rule."""
    fig = parity_figure(_load(prediction_paths), _styles(prediction_paths, models_config))
    save_figure(fig, outputs, provenance({"inputs": prediction_paths}, None))


def plot_elastic_temperature(hcp_paths, models_config, outputs):
    """The ``elastic_temperature`` rule."""
    fig = elastic_temperature_figure(_load(hcp_paths), _styles(hcp_paths, models_config))
    save_figure(fig, outputs, provenance({"inputs": hcp_paths}, None))


def plot_vacf(diffusion_paths, models_config, outputs):
    """The ``vacf`` rule."""
    fig = vacf_figure(_load(diffusion_paths), _styles(diffusion_paths, models_config))
    save_figure(fig, outputs, provenance({"inputs": diffusion_paths}, None))
