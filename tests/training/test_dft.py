"""The DFT trainer: loss against an independent evaluation, learning, resume after a kill, overflow errors."""
import jax.numpy as jnp
import numpy as np
import pytest

from tifusion import units
from tifusion.potential import energy_forces_virial
from tifusion.graph import build_graph
from tifusion.training.dft import GraphSpec, dft_metrics, fisher_diagonal, make_dft_trainer, train_dft

SETTINGS = {"batch_size": 4, "microbatch": 2, "learning_rate": 0.01, "lr_decay_rate": 0.5, "lr_decay_steps": None,
            "epochs": 3, "loss_weights": {"energy": 1.0e-6, "force": 1.0e-2, "virial": 4.0e-6}}
START = {"embed": jnp.array(0.97), "pair": jnp.array(1.05)}


@pytest.mark.slow
def test_validation_loss_equals_a_direct_evaluation_of_the_formula(scaled_eam, tiny_dataset):
    trainer = make_dft_trainer(scaled_eam, tiny_dataset, SETTINGS, seed=0)
    metrics = trainer.evaluate(START, "validation")
    index = np.flatnonzero(np.asarray(tiny_dataset.split) == 1)
    se_e, se_f, se_w, n_f = [], 0.0, [], 0
    for i in index:
        mask = np.asarray(tiny_dataset.atom_mask[i])
        r, box = jnp.asarray(tiny_dataset.positions[i]), jnp.asarray(tiny_dataset.box[i])
        graph = build_graph(r, box, scaled_eam.cutoff, 200, (1, 1, 1), jnp.asarray(mask))
        e, f, w = energy_forces_virial(scaled_eam, START, r, box, graph)
        se_e.append((float(e) - tiny_dataset.energy[i]) ** 2)
        se_f += float(np.sum((np.asarray(f) - tiny_dataset.forces[i])[mask] ** 2))
        n_f += 3 * mask.sum()
        weight = 4.0e-6 if tiny_dataset.types[i] == 0 else 0.0
        se_w.append(weight * float(np.sum((np.asarray(w) - tiny_dataset.virial[i]) ** 2)) / 9)
    expected = 1.0e-6 * np.mean(se_e) + 1.0e-2 * se_f / n_f + np.mean(se_w)
    np.testing.assert_allclose(metrics["loss"], expected, rtol=1e-8)


def test_metrics_are_in_table1_units():
    reference = {"atom_mask": np.ones((1, 2), bool), "energy": np.zeros(1), "forces": np.zeros((1, 2, 3)),
                 "virial": np.zeros((1, 3, 3)), "types": np.zeros(1, int)}
    # 2 atoms, energy off by 2 meV in total -> 1 meV/atom; force components off by 1 eV/Angstrom -> 1000 meV/A
    metrics = dft_metrics(reference, np.array([2 * units.MEV]), np.full((1, 2, 3), units.EV_PER_ANGSTROM),
                          np.full((1, 3, 3), 4 * units.MEV))
    np.testing.assert_allclose([metrics["energy_rmse"], metrics["force_rmse"], metrics["virial_rmse"]],
                               [1.0, 1000.0, 2.0])


@pytest.mark.slow
def test_training_lowers_validation_loss_and_resumes_after_a_kill_with_identical_result(tmp_path, scaled_eam,
                                                                                       tiny_dataset):
    class Killed(Exception):
        pass

    def kill_after_first_epoch(info):
        if info["epoch"] == 1:
            raise Killed

    checkpoint = tmp_path / "dft.npz"
    with pytest.raises(Killed):
        train_dft(scaled_eam, START, tiny_dataset, SETTINGS, 0, checkpoint, on_epoch_end=kill_after_first_epoch)
    resumed, info = train_dft(scaled_eam, START, tiny_dataset, SETTINGS, 0, checkpoint, tmp_path / "history.csv")
    straight, straight_info = train_dft(scaled_eam, START, tiny_dataset, SETTINGS, 0, tmp_path / "other.npz")
    for key in START:
        np.testing.assert_array_equal(np.asarray(resumed[key]), np.asarray(straight[key]), err_msg=key)
    assert [row["epoch"] for row in info["history"]] == [1, 2, 3]
    initial = make_dft_trainer(scaled_eam, tiny_dataset, SETTINGS, 0).evaluate(START, "validation")["loss"]
    assert info["best_val_loss"] < 0.5 * initial
    assert (tmp_path / "history.csv").read_text().count("\n") == 4
    # a checkpoint written with other settings is not resumed: the run starts over
    _, other_info = train_dft(scaled_eam, START, tiny_dataset, dict(SETTINGS, epochs=1), 0, checkpoint,
                              run_key="other settings")
    assert [row["epoch"] for row in other_info["history"]] == [1]


def test_capacity_overflow_is_an_error_naming_the_configuration(scaled_eam, tiny_dataset):
    trainer = make_dft_trainer(scaled_eam, tiny_dataset, SETTINGS, 0, spec=GraphSpec(scaled_eam.cutoff, 8, (1, 1, 1)))
    with pytest.raises(RuntimeError, match=r"capacity 8 exceeded for dataset configuration\(s\) \[\d+"):
        trainer.evaluate(START, "validation")


@pytest.mark.slow
def test_fisher_diagonal_is_the_mean_squared_finite_difference_gradient_of_each_configurations_loss(scaled_eam,
                                                                                                   tiny_dataset):
    weights = SETTINGS["loss_weights"]
    fisher = fisher_diagonal(scaled_eam, START, tiny_dataset, weights)
    index = np.flatnonzero(np.asarray(tiny_dataset.split) == 0)

    def configuration_loss(params, i):  # the loss formula of one configuration, written out
        mask = np.asarray(tiny_dataset.atom_mask[i])
        r, box = jnp.asarray(tiny_dataset.positions[i]), jnp.asarray(tiny_dataset.box[i])
        graph = build_graph(r, box, scaled_eam.cutoff, 200, (1, 1, 1), jnp.asarray(mask))
        e, f, w = energy_forces_virial(scaled_eam, params, r, box, graph)
        virial = weights["virial"] if tiny_dataset.types[i] == 0 else 0.0
        return (weights["energy"] * (float(e) - tiny_dataset.energy[i]) ** 2
                + weights["force"] * float(np.sum((np.asarray(f) - tiny_dataset.forces[i])[mask] ** 2)) / (3 * mask.sum())
                + virial * float(np.sum((np.asarray(w) - tiny_dataset.virial[i]) ** 2)) / 9)

    for key in START:
        h = 1e-5
        squares = []
        for i in index:
            plus = configuration_loss({**START, key: START[key] + h}, i)
            minus = configuration_loss({**START, key: START[key] - h}, i)
            squares.append(((plus - minus) / (2 * h)) ** 2)
        np.testing.assert_allclose(float(fisher[key]), np.mean(squares), rtol=1e-5, err_msg=key)


def test_a_finished_training_rerun_writes_the_same_outputs_without_recomputing(tmp_path, scaled_eam, tiny_dataset,
                                                                               monkeypatch):
    checkpoint, history = tmp_path / "dft.npz", tmp_path / "history.csv"
    best, info = train_dft(scaled_eam, START, tiny_dataset, SETTINGS, 0, checkpoint, history, run_key="k")
    first_history = history.read_text()
    history.unlink()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished training was recomputed")

    monkeypatch.setattr("tifusion.training.dft.make_dft_trainer", no_training)
    again, again_info = train_dft(scaled_eam, START, tiny_dataset, SETTINGS, 0, checkpoint, history, run_key="k")
    assert history.read_text() == first_history
    assert again_info["best_epoch"] == info["best_epoch"]
    for key in START:
        np.testing.assert_array_equal(np.asarray(again[key]), np.asarray(best[key]), err_msg=key)


def test_a_diverging_training_stops_naming_the_epoch_and_saves_nothing(tmp_path, scaled_eam, tiny_dataset):
    with pytest.raises(FloatingPointError, match="epoch 1: .* not finite"):
        train_dft(scaled_eam, START, tiny_dataset, dict(SETTINGS, learning_rate=float("nan")), 0,
                  tmp_path / "dft.npz", tmp_path / "history.csv")
    assert not (tmp_path / "history.csv").exists()


def test_a_corrupt_checkpoint_is_named(tmp_path, scaled_eam, tiny_dataset):
    checkpoint = tmp_path / "dft.npz"
    checkpoint.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=f"checkpoint {checkpoint} cannot be read"):
        train_dft(scaled_eam, START, tiny_dataset, SETTINGS, 0, checkpoint)
