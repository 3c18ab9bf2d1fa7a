"""The fused schedule on a tiny problem: a two-parameter EAM learns from experiment and reference data."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tifusion.training.fused import select, train_schedule


EXP_SETTINGS = {
    "md": {"dt_ps": 0.002, "friction_per_ps": 10.0, "total_ps": 0.5, "equilibration_ps": 0.1,
           "frame_interval_ps": 0.02, "initial_equilibration_ps": 0.2},
    "loss_weights": {"stiffness": 1.0e-10, "pressure": 1.0e-9},
    "optimizer": {"method": "adam", "learning_rate": 0.01, "b1": 0.1, "b2": 0.4, "decay_rate": 1.0, "decay_steps": 100},
    "ess_fraction": 1.0, "chunk_frames": 10,
}
DFT_SETTINGS = {"batch_size": 4, "microbatch": 2, "learning_rate": 0.003, "lr_decay_rate": 1.0, "lr_decay_steps": 100,
                "loss_weights": {"energy": 1.0e-6, "force": 1.0e-2, "virial": 4.0e-6}}


@pytest.mark.slow
def test_fused_schedule_lowers_experimental_loss_within_dft_factor_and_resumes(tmp_path, scaled_eam, tiny_dataset):
    dataset = tiny_dataset
    start = {"embed": jnp.array(0.98), "pair": jnp.array(1.04)}
    entry = {"schedule": ["exp", "dft"], "epochs": 2, "temperatures_K": [23],
             "selection": {"dft_metric": "loss", "max_factor": 3.0}}
    checkpoint = tmp_path / "fused.npz"

    class Killed(Exception):
        pass

    # a run killed after its first epoch, then started again: it resumes from the checkpoint
    import tifusion.training.fused as fused

    original = fused.save_checkpoint

    def save_then_die(path, state, info, key=""):
        original(path, state, info, key)
        if info["epoch"] == 1:
            raise Killed

    fused.save_checkpoint = save_then_die
    try:
        with pytest.raises(Killed):
            train_schedule(scaled_eam, start, dataset, entry, EXP_SETTINGS, DFT_SETTINGS, 0, checkpoint)
    finally:
        fused.save_checkpoint = original
    selected, final, info = train_schedule(scaled_eam, start, dataset, entry, EXP_SETTINGS, DFT_SETTINGS, 0,
                                           checkpoint)
    history = info["history"]
    # two training epochs, then the final model scored on its own trajectories (a candidate too)
    assert [(row["epoch"], row["trained"]) for row in history] == [(1, True), (2, True), (3, False)]
    first, last = history[0]["exp_loss"], min(row["exp_loss"] for row in history[1:])
    assert last < first, f"experimental loss did not decrease: {[r['exp_loss'] for r in history]}"
    chosen = info["selection"]
    assert chosen["epoch"] >= 1 and chosen["exp_loss"] < first
    assert chosen["dft_metric_value"] <= 3.0 * info["initial_dft_validation"]["loss"]
    assert all(np.isfinite(float(v)) for v in jax.tree_util.tree_leaves(final))

    # the same run without the kill gives the same parameters (continued MD states, seeded batch order)
    uninterrupted = train_schedule(scaled_eam, start, dataset, entry, EXP_SETTINGS, DFT_SETTINGS, 0,
                                   tmp_path / "straight.npz")[1]
    for key in final:
        np.testing.assert_allclose(final[key], uninterrupted[key], rtol=1e-10, err_msg=key)

    # run again once finished: the same results and history from the checkpoint, no training
    def no_training(*args, **kwargs):
        raise AssertionError("a finished training was recomputed")

    original_trainer, fused.make_exp_trainer = fused.make_exp_trainer, no_training
    try:
        history_path = tmp_path / "history.csv"
        again = train_schedule(scaled_eam, start, dataset, entry, EXP_SETTINGS, DFT_SETTINGS, 0, checkpoint,
                               history_path)
    finally:
        fused.make_exp_trainer = original_trainer
    assert again[2]["selection"] == chosen and history_path.read_text().count("\n") == len(history) + 1
    for key in final:
        np.testing.assert_array_equal(again[0][key], selected[key], err_msg=key)
        np.testing.assert_array_equal(again[1][key], final[key], err_msg=key)


@pytest.mark.slow
def test_step_guard_keeps_every_exp_step_within_its_dft_validation_factor(tmp_path, scaled_eam, tiny_dataset):
    # sequential (EXP only, one state point): the validation metric after epoch e is the one after its one EXP step.
    # Near the teacher, unguarded, the force RMSE goes 0.0277 -> 0.0277 -> 0.0809 -> 0.1289 (2.9x in the 2nd step)
    start = {"embed": jnp.array(1.0), "pair": jnp.array(1.005)}
    entry = {"schedule": ["exp"], "epochs": 3, "temperatures_K": [23], "selection": {"max_factor": None}}
    factor = 1.5
    guarded = dict(EXP_SETTINGS, step_guard={"max_factor": factor, "dft_metric": "force_rmse", "halvings": 3})
    _, _, info = train_schedule(scaled_eam, start, tiny_dataset, entry, guarded, DFT_SETTINGS, 0,
                                tmp_path / "guarded.npz")
    trained = [row for row in info["history"] if row["trained"]]
    forces = [info["initial_dft_validation"]["force_rmse"]] + [row["dft_val_force_rmse"] for row in trained]
    assert all(after <= factor * before for before, after in zip(forces, forces[1:])), forces
    fractions = [row["step_fraction_23K"] for row in trained]
    assert set(fractions) <= {1.0, 0.5, 0.25, 0.125, 0.0} and min(fractions) < 1.0, fractions


def _selection(**chosen):
    return {"epoch": None, "exp_loss": None, "exp_loss_err": None, "dft_metric_value": None, "best_epoch": None,
            "best_exp_loss": None, "best_exp_loss_err": None, **chosen}


def _run_selection(candidates, limit=None):
    chosen = _selection()
    for epoch, (loss, err, metric) in enumerate(candidates):
        chosen = select(chosen, epoch, loss, err, metric, limit)
    return chosen


def test_selection_keeps_the_latest_model_the_errors_cannot_tell_from_the_lowest_loss():
    # a fused run whose final model scored 0.01333 against the initial model's 0.01273, each +- 0.002: a noisy tie
    chosen = _run_selection([(0.01273, 0.002, 30.0), (0.01776, 0.002, 31.0), (0.01333, 0.002, 32.0)])
    assert (chosen["epoch"], chosen["best_epoch"]) == (2, 0)
    # the initial model better beyond the errors: kept (and marked by train_schedule)
    assert _run_selection([(0.010, 0.001, 30.0), (0.020, 0.001, 31.0), (0.014, 0.001, 32.0)])["epoch"] == 0
    # a lower loss later is the best and taken; a DFT metric beyond the limit is never taken
    assert _run_selection([(0.02, 0.001, 30.0), (0.01, 0.001, 40.0), (0.011, 0.001, 31.0)], limit=35.0)["epoch"] == 2
    assert _run_selection([(0.02, 0.001, 30.0), (0.01, 0.001, 40.0)], limit=35.0)["epoch"] == 0
