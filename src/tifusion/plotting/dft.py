"""Fig. 2: energy vs volume of the hcp, fcc and bcc test configurations, reference vs models."""
import matplotlib.pyplot as plt
import numpy as np

from tifusion import units
from tifusion.plotting.style import save_figure

PHASES = ("hcp", "fcc", "bcc")


def energy_volume_figure(predictions, styles, reference_label="reference"):
    """``predictions``: {model: dict from evaluate_dft_errors}; ``styles``: {model: (label, colour)}."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    first = next(iter(predictions.values()))
    for ax, phase, letter in zip(axes, PHASES, "abc"):
        select = np.asarray(first["phase"]) == phase
        volume = first["volume"][select] / first["n_atoms"][select] / units.ANGSTROM**3
        order = np.argsort(volume)
        ref = first["energy_reference"][select] / first["n_atoms"][select] / units.EV
        ax.plot(volume[order], ref[order], marker="x", markersize=4, color="black", linestyle="--",
                linewidth=0.8, label=reference_label)
        for name, pred in predictions.items():
            label, color = styles[name]
            energy = pred["energy_model"][select] / pred["n_atoms"][select] / units.EV
            ax.plot(volume, energy, "o", markersize=3, color=color, alpha=0.8, label=label)
        ax.set_title(f"({letter}) {phase}, {int(select.sum())} test configurations")
        ax.set_xlabel("volume (Å$^3$/atom)")
        if not select.any():
            ax.text(0.5, 0.5, f"no {phase} configurations in the test set", transform=ax.transAxes, ha="center")
    axes[0].set_ylabel("energy (eV/atom)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def save_energy_volume_figure(predictions, styles, paths, record=None, reference_label="reference"):
    save_figure(energy_volume_figure(predictions, styles, reference_label), paths, record)


def plot_fig2(prediction_paths, models_config, paths, reference_label):
    """The ``fig2`` rule: read each model's test predictions and draw the figure."""
    from tifusion.io import load_npz_metadata, provenance
    from tifusion.plotting.style import model_style

    predictions = {}
    for name, path in prediction_paths.items():
        with np.load(path) as data:
            predictions[name] = {key: data[key] for key in data.files if key != "metadata"}
    styles = {name: model_style(name, models_config, i, (load_npz_metadata(path) or {}).get("model_metadata"))
              for i, (name, path) in enumerate(prediction_paths.items())}
    save_energy_volume_figure(predictions, styles, paths, provenance({"inputs": prediction_paths}, None),
                              reference_label)
