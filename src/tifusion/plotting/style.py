"""Figure conventions shared by all figures: models in the paper's colours, experiment in black."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tifusion.io import atomic_path, initial_model_note, write_sidecar  # noqa: E402

REFERENCE_STYLE = {"color": "black", "linestyle": "--"}
DEFAULT_COLORS = ["tab:red", "tab:green", "tab:blue", "navy", "tab:orange", "tab:purple"]


def model_style(name, models_config, position=0, model_metadata=None):
    """Label and colour of a model from config (``models.<name>.label/color``), with fallbacks; the label says so
    when the model's training kept its initial model (``model_metadata``, :func:`tifusion.io.initial_model_note`)."""
    entry = (models_config or {}).get(name, {})
    return (entry.get("label", name) + initial_model_note(model_metadata),
            entry.get("color", DEFAULT_COLORS[position % len(DEFAULT_COLORS)]))


def save_figure(fig, paths, record=None):
    """Save one figure to each path (pdf, png) atomically, with a provenance sidecar each."""
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=str(path).rsplit(".", 1)[-1], dpi=200, bbox_inches="tight")
        if record is not None:
            write_sidecar(path, record)
    plt.close(fig)
