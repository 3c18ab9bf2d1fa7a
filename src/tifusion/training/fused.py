"""Training schedules on top of a pre-trained model: "DFT, EXP sequential", "DFT & EXP fused", ablations.

A model is declared in config (``models.<name>``): its initial model, the trainers run in each
epoch and their order (``schedule``: [exp] = sequential, [exp, dft] = fused as in the paper,
where DiffTRe runs first), the number of epochs and the experimental state points. Each
trainer keeps its own optimizer state; only the parameters pass between them.

Model selection (automatic, recorded with the model): the candidate of epoch e is the model at
the start of that epoch, scored by the mean experimental loss of epoch e and its jackknife standard error (its
trajectories are sampled with that model; with one update per state point, later state points of the epoch see
the model after the earlier updates) and by the DFT validation metric of that model; the final model is scored
on fresh trajectories of its own after the last epoch. Among the candidates whose DFT metric stays within
``max_factor`` of the initial model's, the lowest experimental loss marks the best; the latest candidate whose
loss is within the combined standard error of the best's is kept. Differences the 30-frame estimates cannot
resolve thus never send a trained model back to an earlier one; an earlier model is kept only when it is better
beyond the errors. Keeping the initial model (epoch 0) is logged as a warning and recorded with the model
(``initial_model_kept``), so tables and figures can say so. The default DFT metric is the validation force RMSE,
which, unlike the energy, an EXP-only training does not leave undetermined up to a constant.
"""
import logging
import time

import numpy as np

from tifusion.observables.elasticity import HEXAGONAL_CONSTANTS
from tifusion.runtime import phase
from tifusion.training.checkpoint import canonical, load_checkpoint, save_checkpoint, save_finished
from tifusion.training.dft import (check_finite_epoch, finished_training, fisher_diagonal, make_dft_trainer,
                                  write_history)
from tifusion.training.exp import experimental_statepoints, make_exp_trainer, step_guard_settings
from tifusion.training.exp_updates import needs_dft_fisher
from tifusion.training.settings import merged

log = logging.getLogger(__name__)

DEFAULT_SELECTION = {"dft_metric": "force_rmse", "max_factor": 1.5}
SELECTION_RULE = ("among the models after 0..epochs epochs whose DFT validation metric stays within max_factor of "
                  "the initial model's, the latest whose mean experimental loss is within the combined standard error "
                  "of the lowest")


def _exp_columns(exp_metrics):
    """History columns of an EXP epoch (or score): loss, C_ij, pressure with errors and n_eff per state point."""
    row = {"exp_loss": exp_metrics["exp_loss"], "exp_loss_err": exp_metrics["exp_loss_err"]}
    for sp in exp_metrics["statepoints"]:
        tag = f"{sp['temperature_K']:g}K"
        row[f"loss_{tag}"] = sp["loss"]
        row[f"loss_{tag}_err"] = sp["loss_err"]
        for name in HEXAGONAL_CONSTANTS:
            row[f"{name}_{tag}_GPa"] = sp[f"{name}_GPa"]
            row[f"{name}_{tag}_err_GPa"] = sp[f"{name}_err_GPa"]
        row[f"P_{tag}_GPa"] = sp["pressure_GPa"]
        row[f"P_{tag}_err_GPa"] = sp["pressure_err_GPa"]
        row[f"n_eff_{tag}"] = sp["n_eff"]
        if "step_fraction" in sp:  # an update (not a score): the fraction of the step the guard let through
            row[f"step_fraction_{tag}"] = sp["step_fraction"]
    return row


def _dft_columns(validation):
    return {f"dft_val_{k}": validation[k] for k in ("loss", "energy_rmse", "force_rmse", "virial_rmse")}


def select(chosen, epoch, exp_loss, exp_loss_err, dft_metric, limit):
    """The selection after the candidate of ``epoch`` (candidates come in epoch order): a new dict if it takes the
    candidate, else ``chosen`` itself.

    A candidate is admissible if it has an experimental loss and its DFT metric is within ``limit`` (None: no
    bound). It becomes the best if its loss is the lowest so far, and it is taken if it is the best or within the
    combined standard error of the best's loss: the latest candidate the errors cannot tell from the best.
    """
    if exp_loss is None or (limit is not None and not dft_metric <= limit):
        return chosen
    taken = dict(chosen, epoch=epoch, exp_loss=exp_loss, exp_loss_err=exp_loss_err, dft_metric_value=dft_metric)
    if chosen["best_exp_loss"] is None or exp_loss < chosen["best_exp_loss"]:
        return dict(taken, best_epoch=epoch, best_exp_loss=exp_loss, best_exp_loss_err=exp_loss_err)
    if exp_loss - chosen["best_exp_loss"] <= np.hypot(exp_loss_err, chosen["best_exp_loss_err"]):
        return taken
    return chosen


def train_schedule(potential, params, dataset, entry, exp_settings, dft_settings, seed, checkpoint_path,
                   history_path=None, run_key=""):
    """Run a model's schedule; returns (selected params, final params, info). Resumes from the checkpoint; a
    finished run's checkpoint gives its results without recomputing."""
    finished = finished_training(checkpoint_path, {"best_params": params, "params": params}, run_key, history_path)
    if finished is not None:
        outputs, info = finished
        return outputs["best_params"], outputs["params"], info
    schedule = list(entry["schedule"])
    epochs = int(entry["epochs"])
    selection = merged(DEFAULT_SELECTION, entry.get("selection"))
    statepoints = experimental_statepoints(entry["temperatures_K"], exp_settings.get("target_pressure_GPa", 0.0))
    exp_optimizer = exp_settings["optimizer"]
    dft_fisher = None
    if needs_dft_fisher(exp_optimizer):
        # the curvature of the DFT fit the EXP steps start from (computed again on a resume: same numbers)
        with phase("dft_fisher"):
            dft_fisher = fisher_diagonal(potential, params, dataset, dft_settings["loss_weights"],
                                         int(exp_optimizer.get("fisher_samples", 96)), seed)
    dft_trainer = make_dft_trainer(potential, dataset, dict(dft_settings, epochs=epochs), seed)
    guard = step_guard_settings(exp_settings.get("step_guard"))
    dft_check = None if guard is None else \
        (lambda p: dft_trainer.evaluate(p, "validation")[guard["dft_metric"]])
    exp_trainer = make_exp_trainer(potential, statepoints, exp_settings, seed, dft_fisher, dft_check)

    state = {"params": params, "best_params": params, "exp": exp_trainer.init(params),
             "dft_opt_state": dft_trainer.init(params)}
    initial = dft_trainer.evaluate(params, "validation")
    info = {"epoch": 0, "history": [], "initial_dft_validation": initial, "dft_validation": initial,
            "selection": {**selection, "epoch": None, "exp_loss": None, "exp_loss_err": None, "dft_metric_value": None,
                          "best_epoch": None, "best_exp_loss": None, "best_exp_loss_err": None}}
    state = canonical(state)
    restored = load_checkpoint(checkpoint_path, state, run_key)
    if restored is not None:
        state, info = restored
        log.info("resuming from %s after epoch %d", checkpoint_path, info["epoch"])
    limit = None if selection["max_factor"] is None else \
        selection["max_factor"] * info["initial_dft_validation"][selection["dft_metric"]]

    def consider(candidate, candidate_dft, exp_loss, exp_loss_err, epoch):
        """Keep ``candidate`` (the model after ``epoch`` epochs) if :func:`select` takes it."""
        chosen = select(info["selection"], epoch, exp_loss, exp_loss_err, candidate_dft[selection["dft_metric"]],
                        limit)
        if chosen is not info["selection"]:
            state["best_params"] = candidate
            info["selection"] = chosen

    while info["epoch"] < epochs:
        started = time.perf_counter()
        epoch = info["epoch"]
        candidate, candidate_dft = state["params"], info["dft_validation"]
        params, row = state["params"], {"epoch": epoch + 1, "trained": True}
        for trainer in schedule:
            if trainer == "exp":
                params, state["exp"], exp_metrics = exp_trainer.epoch(params, state["exp"], epoch)
                row.update(_exp_columns(exp_metrics))
            else:
                with phase("dft_epoch"):
                    params, state["dft_opt_state"], dft_metrics = dft_trainer.epoch(params, state["dft_opt_state"],
                                                                                    epoch)
                check_finite_epoch(params, dft_metrics, epoch + 1, "DFT epoch of the EXP/fused training")
                row["dft_train_loss"] = dft_metrics["train_loss"]
        validation = dft_trainer.evaluate(params, "validation")
        row.update(_dft_columns(validation))
        consider(candidate, candidate_dft, row.get("exp_loss"), row.get("exp_loss_err"), epoch)
        row["seconds"] = time.perf_counter() - started
        state["params"] = params
        info.update(epoch=epoch + 1, dft_validation=validation)
        info["history"].append(row)
        save_checkpoint(checkpoint_path, state, info, run_key)
        if history_path is not None:
            write_history(history_path, info["history"])
        eta = np.mean([r["seconds"] for r in info["history"][-3:]]) * (epochs - info["epoch"])
        log.info("epoch %d/%d: EXP loss %s | DFT val loss %.4g, force RMSE %.1f meV/A | %.0f s, ETA %.0f s",
                 epoch + 1, epochs, "-" if row.get("exp_loss") is None else f"{row['exp_loss']:.4g}",
                 validation["loss"], validation["force_rmse"], row["seconds"], eta)

    # Each epoch scored the model it started from; the final model gets its own fresh trajectories
    # (no update), so that it is a candidate too (a history row with trained = False).
    if "exp" in schedule and not info.get("final_scored", False):
        started = time.perf_counter()
        state["exp"], exp_metrics = exp_trainer.score(state["params"], state["exp"])
        row = {"epoch": epochs + 1, "trained": False, **_exp_columns(exp_metrics),
               **_dft_columns(info["dft_validation"])}
        consider(state["params"], info["dft_validation"], row["exp_loss"], row["exp_loss_err"], epochs)
        row["seconds"] = time.perf_counter() - started
        info["history"].append(row)
        info["final_scored"] = True
        save_checkpoint(checkpoint_path, state, info, run_key)
        if history_path is not None:
            write_history(history_path, info["history"])
        log.info("final model: EXP loss %.4g", row["exp_loss"])
    if info["selection"]["epoch"] is None:
        log.warning("no epoch met the selection criterion; keeping the final model")
        state["best_params"] = state["params"]
        info["selection"]["epoch"] = epochs
    info["selection"]["initial_model_kept"] = info["selection"]["epoch"] == 0
    if info["selection"]["initial_model_kept"]:
        log.warning("selected the INITIAL model (epoch 0): every trained candidate's experimental loss is higher beyond "
                    "the errors or its DFT metric is out of bounds; this model equals its initial model %s",
                    entry.get("init"))
    else:
        log.info("selected the model after epoch %d", info["selection"]["epoch"])
    save_finished(checkpoint_path, {"best_params": state["best_params"], "params": state["params"]}, info, run_key)
    if history_path is not None:
        write_history(history_path, info["history"])
    return state["best_params"], state["params"], info


def run_training(model_name, entry, init_model_path, dataset_path, exp_settings, dft_settings, seed, model_path,
                 final_model_path, history_path, checkpoint_path, config_record=None):
    """The EXP/fused training rule for one model of the config: ``entry`` its training settings, ``exp_settings``
    and ``dft_settings`` its trainers' (:func:`tifusion.training.settings.model_exp_settings`,
    :func:`~tifusion.training.settings.model_dft_settings`)."""
    from tifusion.data.dataset import load_dataset
    from tifusion.io import provenance
    from tifusion.model.io import load_model, save_model

    potential, params, hparams, init_meta = load_model(init_model_path)
    from tifusion.io import npz_content_digest
    from tifusion.training.checkpoint import fingerprint

    # the checkpoint belongs to these settings and the numbers of the data and the initial model, not to when or
    # by which commit the files were written
    run_key = fingerprint(entry, exp_settings, dft_settings, seed, npz_content_digest(dataset_path),
                          npz_content_digest(init_model_path))
    selected, final, info = train_schedule(potential, params, load_dataset(dataset_path), entry, exp_settings,
                                           dft_settings, seed, checkpoint_path, history_path, run_key)
    record = provenance(config_record, seed, model=model_name, initial_model=str(init_model_path),
                        selection=info["selection"], selection_rule=SELECTION_RULE)
    save_model(model_path, hparams, selected, record)
    save_model(final_model_path, hparams, final, dict(record, note="parameters after the last epoch"))
