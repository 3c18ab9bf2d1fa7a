"""DFT test-set errors and predictions: the teacher that labelled the data has zero error, and the predictions file
holds what the parity figure plots (energies, forces of the real atoms, virials)."""
import numpy as np

from tifusion.data.embedded import TEACHER, generate_embedded
from tifusion.properties.dft_errors import evaluate_dft_errors

TINY = {"perfect": {"count": 1}, "ev_scan": {"points": 3}, "voigt_strain": {"magnitudes": [0.01]},
        "random_strain": {"count": 3}, "rattle": {"count": 4},
        "md": {"temperatures_K": {"hcp": [], "bcc": [], "fcc": [], "liquid": []}}}


def test_the_teacher_has_zero_error_and_its_predictions_equal_the_labels():
    dataset = generate_embedded(TINY, seed=0, train_fraction=0.5, validation_fraction=0.1)
    metrics, predictions = evaluate_dft_errors(TEACHER, None, dataset)
    for name in ("energy_rmse", "force_rmse", "virial_rmse"):
        assert metrics[name] < 1e-6, (name, metrics[name])
    n_test = len(predictions["index"])
    assert predictions["forces_model"].shape == predictions["forces_reference"].shape
    assert predictions["atom_mask"].shape == predictions["forces_model"].shape[:2] and n_test > 0
    np.testing.assert_array_equal(predictions["atom_mask"].sum(1), predictions["n_atoms"])
    np.testing.assert_allclose(predictions["forces_model"], predictions["forces_reference"], atol=1e-6)
    np.testing.assert_allclose(predictions["virial_model"], predictions["virial_reference"], atol=1e-6)
