"""Errors of a model on the DFT test set (the paper's Table 1) and the data of Fig. 2.

The energy of a model trained only on derivatives (forces, stresses, elastic constants) is
defined up to a constant; besides the plain errors, the shift-corrected energy errors remove
the mean per-atom offset measured on the training set, as the paper does for its sequential
model.
"""
import numpy as np
import pandas as pd

from tifusion.training.dft import SPLITS, dft_metrics, make_dft_trainer, shift_corrected_energy_errors

TABLE1_COLUMNS = [
    "energy_rmse", "energy_mae", "energy_rmse_shift_corrected", "energy_mae_shift_corrected",
    "force_rmse", "force_mae", "virial_rmse", "virial_mae", "virial_rmse_types0", "virial_mae_types0",
]
# docs/method.md §1 and §9: this project's virial is the strain derivative only; the paper's code adds a force term,
# so its virial errors are a different quantity.
VIRIAL_DEFINITION = "W = -dU/d(strain) (the paper's Table 1 adds a force term: not comparable)"

# Predictions only need the graph settings; the trainer's optimizer settings are irrelevant here.
_PREDICT_SETTINGS = {"batch_size": 1, "microbatch": 1, "learning_rate": 0.0, "lr_decay_rate": 1.0,
                     "lr_decay_steps": 1, "loss_weights": {"energy": 1.0, "force": 1.0, "virial": 1.0}}


def evaluate_dft_errors(potential, params, dataset, microbatch=4):
    """Metrics on the test split (meV units) and the test predictions (internal units): energies, forces (padded,
    with the atom mask) and virials of each configuration, reference and model."""
    settings = dict(_PREDICT_SETTINGS, microbatch=microbatch, batch_size=microbatch)
    trainer = make_dft_trainer(potential, dataset, settings, seed=0)
    split = np.asarray(dataset.split)
    index = {name: np.flatnonzero(split == code) for name, code in SPLITS.items()}
    test = _reference(dataset, index["test"])
    e, f, w = trainer.predict(params, index["test"])
    metrics = dft_metrics(test, e, f, w)
    e_train, _, _ = trainer.predict(params, index["train"])
    metrics.update(shift_corrected_energy_errors(_reference(dataset, index["train"]), e_train, test, e))
    n_atoms = test["atom_mask"].sum(1)
    predictions = {
        "index": index["test"],
        "n_atoms": n_atoms,
        "volume": np.abs(np.linalg.det(test["box"])),
        "phase": np.asarray(dataset.phase)[index["test"]],
        "types": test["types"],
        "energy_reference": test["energy"],
        "energy_model": e,
        "atom_mask": test["atom_mask"],
        "forces_reference": test["forces"],
        "forces_model": np.asarray(f),
        "virial_reference": test["virial"],
        "virial_model": np.asarray(w),
    }
    return metrics, predictions


def _reference(dataset, index):
    return {name: np.asarray(getattr(dataset, name))[index]
            for name in ("box", "atom_mask", "energy", "forces", "virial", "types")}


def table1(metrics_by_model, labels):
    """One row per model, the columns of the paper's Table 1 (plus shift-corrected and types-0 virial)."""
    rows = [{"model": name, "label": labels.get(name, name), **{c: m.get(c, np.nan) for c in TABLE1_COLUMNS},
             "virial_definition": VIRIAL_DEFINITION} for name, m in metrics_by_model.items()]
    return pd.DataFrame(rows, columns=["model", "label"] + TABLE1_COLUMNS + ["virial_definition"])


def run_evaluation(model_path, dataset_path, metrics_path, predictions_path):
    """The ``evaluate_dft_errors`` rule: metrics JSON (with provenance) and test predictions npz."""
    from tifusion.data.dataset import load_dataset
    from tifusion.io import provenance, save_npz, write_json
    from tifusion.model.io import load_model

    potential, params, hparams, model_meta = load_model(model_path)
    metrics, predictions = evaluate_dft_errors(potential, params, load_dataset(dataset_path))
    record = provenance({"model": str(model_path), "dataset": str(dataset_path)}, None,
                        model_metadata=model_meta)
    write_json(metrics_path, {"metrics": metrics, "units": UNITS, "provenance": record})
    save_npz(predictions_path, predictions, record)


UNITS = {"energy": "meV/atom", "force": "meV/Angstrom", "virial": "meV/atom"}


def write_table1(metrics_paths, labels, table_path):
    """The ``table1`` rule: one row per model, sidecar with the sources."""
    from tifusion.io import noted_labels, provenance, read_json, write_csv

    records = {name: read_json(path) for name, path in metrics_paths.items()}
    metrics = {name: record["metrics"] for name, record in records.items()}
    labels = noted_labels(labels, {name: record["provenance"].get("model_metadata") for name, record in records.items()})
    write_csv(table_path, table1(metrics, labels), provenance({"inputs": metrics_paths, "units": UNITS}, None))
