"""Bottom-up ("DFT") trainer: energies, forces and virials (docs/method.md §4).

Loss for a batch of B configurations (internal units, kJ/mol and kJ/mol/nm):

    L = w_U mean_b (U_b - U~_b)^2
      + w_F sum_{b,i,k} (F_bik - F~_bik)^2 / (3 sum_b N_b)
      + mean_b [ v_b sum_{kl} (W_bkl - W~_bkl)^2 / 9 ],   v_b = w_W if types_b == 0 else 0

with W = -dU/d(eps) the virial (positive under compression, the sign of the data). As in the
paper's code the virial term is normalised by all B samples, also those with weight 0 (spec
B9); the force term by the number of real force components (padding atoms excluded), which
equals the code's "non-zero targets" for unpadded data.

The trainer is a pair of pure functions around an optax optimizer (:class:`DFTTrainer`), so
that the fused trainer can alternate it with the experimental trainer, each keeping its own
optimizer state. :func:`train_dft` is the stand-alone pre-training loop: per-epoch checkpoint,
resume after a kill with identical results, best-validation model kept.
"""
import logging
import math
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from tifusion import units
from tifusion.graph import build_graph, image_range, overflowed
from tifusion.potential import energy_forces_virial
from tifusion.runtime import phase

log = logging.getLogger(__name__)

SPLITS = {"train": 0, "validation": 1, "test": 2}


class GraphSpec(NamedTuple):
    """Static graph settings shared by all configurations of a dataset."""

    cutoff: float
    capacity: int
    n_images: Any  # None (minimum image) or a tuple of image counts


def graph_spec_for(dataset, cutoff, margin=0):
    """Capacity = the largest neighbour count in the data (+ margin); images for the narrowest cell."""
    from tifusion.data.dataset import max_neighbors

    counts = max_neighbors(dataset, cutoff)
    ranges = [image_range(box, cutoff) for box in np.asarray(dataset.box)]
    n_images = None
    if any(r is not None for r in ranges):
        n_images = tuple(max((r or (1, 1, 1))[k] for r in ranges) for k in range(3))
    return GraphSpec(float(cutoff), int(np.max(counts)) + int(margin), n_images)


def _sample_terms(potential, params, spec, positions, box, atom_mask, energy, forces, virial):
    """Squared errors of one configuration and its prediction."""
    graph = build_graph(positions, box, spec.cutoff, spec.capacity, spec.n_images, atom_mask)
    e, f, w = energy_forces_virial(potential, params, positions, box, graph)
    f_err = jnp.where(atom_mask[:, None], f - forces, 0.0)
    return {
        "energy_se": (e - energy) ** 2,
        "force_se": jnp.sum(f_err**2),
        "virial_se": jnp.sum((w - virial) ** 2),
        "overflow": overflowed(graph),
        "prediction": (e, f, w),
    }


def _batch_loss(potential, params, spec, weights, batch, n_total, n_force_total):
    """Contribution of (part of) a batch to the loss of the whole batch (additive over samples)."""
    terms = jax.vmap(
        lambda *x: _sample_terms(potential, params, spec, *x),
    )(batch["positions"], batch["box"], batch["atom_mask"], batch["energy"], batch["forces"], batch["virial"])
    virial_weight = jnp.where(batch["types"] == 0, weights["virial"], 0.0)
    loss = (
        weights["energy"] * jnp.sum(terms["energy_se"]) / n_total
        + weights["force"] * jnp.sum(terms["force_se"]) / n_force_total
        + jnp.sum(virial_weight * terms["virial_se"]) / (9.0 * n_total)
    )
    return loss, terms


FIELDS = ("positions", "box", "atom_mask", "energy", "forces", "virial", "types")


def _take(dataset, index):
    return {name: np.asarray(getattr(dataset, name))[index] for name in FIELDS}


class DFTTrainer(NamedTuple):
    """init(params) -> optimizer state; epoch(params, opt_state, epoch) -> (params, opt_state, metrics);
    evaluate(params, split) -> metrics; predict(params, index) -> (energy, forces, virial)."""

    init: Callable
    epoch: Callable
    evaluate: Callable
    predict: Callable
    steps_per_epoch: int


def make_dft_trainer(potential, dataset, settings, seed, spec=None):
    """Build the DFT trainer for ``dataset`` (a canonical :class:`~tifusion.data.dataset.Dataset`).

    ``settings``: batch_size, microbatch, learning_rate, lr_decay_rate, lr_decay_steps (None: the
    decay spans ``epochs`` epochs), loss_weights {energy, force, virial}, epochs (for the default decay).
    """
    spec = spec or graph_spec_for(dataset, potential.cutoff)
    split = np.asarray(dataset.split)
    train_index = np.flatnonzero(split == SPLITS["train"])
    batch_size = int(settings["batch_size"])
    if batch_size > len(train_index):
        raise ValueError(f"dft batch_size {batch_size} exceeds the {len(train_index)} training configurations")
    microbatch = math.gcd(batch_size, int(settings.get("microbatch") or batch_size))
    steps_per_epoch = len(train_index) // batch_size
    decay_steps = settings.get("lr_decay_steps") or steps_per_epoch * int(settings["epochs"])
    schedule = optax.exponential_decay(settings["learning_rate"], int(decay_steps), settings["lr_decay_rate"])
    optimizer = optax.adam(schedule)
    weights = {k: float(settings["loss_weights"][k]) for k in ("energy", "force", "virial")}

    def loss_and_grad(params, batch):
        n_total = batch["energy"].shape[0]
        n_force_total = 3.0 * jnp.sum(batch["atom_mask"])
        micro = jax.tree_util.tree_map(lambda x: x.reshape((-1, microbatch) + x.shape[1:]), batch)

        def accumulate(carry, part):
            (loss, terms), grad = jax.value_and_grad(
                lambda p: _batch_loss(potential, p, spec, weights, part, n_total, n_force_total), has_aux=True
            )(params)
            total_loss, total_grad = carry
            return (total_loss + loss, jax.tree_util.tree_map(jnp.add, total_grad, grad)), terms["overflow"]

        zero = (jnp.zeros(()), jax.tree_util.tree_map(jnp.zeros_like, params))
        (loss, grad), overflow = jax.lax.scan(accumulate, zero, micro)
        return loss, grad, overflow.reshape(-1)

    @jax.jit
    def step(params, opt_state, batch):
        loss, grad, overflow = loss_and_grad(params, batch)
        updates, opt_state = optimizer.update(grad, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, overflow

    @jax.jit
    def predict_chunk(params, chunk):
        def one(positions, box, atom_mask):
            graph = build_graph(positions, box, spec.cutoff, spec.capacity, spec.n_images, atom_mask)
            e, f, w = energy_forces_virial(potential, params, positions, box, graph)
            return e, f, w, overflowed(graph)

        return jax.vmap(one)(chunk["positions"], chunk["box"], chunk["atom_mask"])

    def check_overflow(flags, index):
        if np.any(flags):
            bad = np.asarray(index)[np.asarray(flags)]
            raise RuntimeError(
                f"neighbour capacity {spec.capacity} exceeded for dataset configuration(s) {bad.tolist()}: "
                "the capacity was sized from other data; rebuild the graph spec from this dataset"
            )

    def predict(params, index):
        index = np.asarray(index)
        outputs = []
        for start in range(0, len(index), microbatch):
            part = index[start : start + microbatch]
            e, f, w, flags = predict_chunk(params, _take(dataset, part))
            check_overflow(flags, part)
            outputs.append((np.asarray(e), np.asarray(f), np.asarray(w)))
        return tuple(np.concatenate(x) for x in zip(*outputs))

    def evaluate(params, split_name):
        index = np.flatnonzero(split == SPLITS[split_name])
        e, f, w = predict(params, index)
        return dft_metrics(_take(dataset, index), e, f, w, weights)

    def epoch(params, opt_state, epoch_index):
        order = np.random.default_rng([seed, epoch_index]).permutation(train_index)
        losses = []
        for b in range(steps_per_epoch):
            index = order[b * batch_size : (b + 1) * batch_size]
            params, opt_state, loss, flags = step(params, opt_state, _take(dataset, index))
            check_overflow(flags, index)
            losses.append(float(loss))
        return params, opt_state, {"train_loss": float(np.mean(losses))}

    return DFTTrainer(optimizer.init, epoch, evaluate, predict, steps_per_epoch)


def fisher_diagonal(potential, params, dataset, loss_weights, n_samples=None, seed=0, spec=None):
    """Empirical Fisher diagonal of the DFT loss, a pytree like params: the mean over training configurations of
    the squared gradient of each configuration's loss (as a one-configuration batch of the trainer).

    A diagonal curvature of the DFT fit near its minimum: a parameter change d costs the DFT loss about
    1/2 sum F d^2 (up to a constant factor; compare steps by it, not absolute losses). ``n_samples``
    training configurations drawn with ``seed`` (default all).
    """
    spec = spec or graph_spec_for(dataset, potential.cutoff)
    weights = {k: float(loss_weights[k]) for k in ("energy", "force", "virial")}
    index = np.flatnonzero(np.asarray(dataset.split) == SPLITS["train"])
    if n_samples is not None and n_samples < len(index):
        index = np.sort(np.random.default_rng(seed).choice(index, size=int(n_samples), replace=False))

    @jax.jit
    def squared_gradient(params, sample):
        n_force = 3.0 * jnp.sum(sample["atom_mask"])
        grad = jax.grad(lambda p: _batch_loss(potential, p, spec, weights, sample, 1.0, n_force)[0])(params)
        return jax.tree_util.tree_map(jnp.square, grad)

    total = jax.tree_util.tree_map(jnp.zeros_like, params)
    for i in index:
        total = jax.tree_util.tree_map(jnp.add, total, squared_gradient(params, _take(dataset, [i])))
    return jax.tree_util.tree_map(lambda x: x / len(index), total)


def dft_metrics(reference, energy, forces, virial, weights=None):
    """Errors of predictions against reference data, in the units of the paper's Table 1.

    energy: per atom (meV/atom); forces: per component (meV/Angstrom); virial: per atom and
    component (meV/atom), over all configurations and over the virial-trained ones (types 0).
    With ``weights``, also the DFT loss value of these configurations.
    """
    atom_mask = np.asarray(reference["atom_mask"])
    n_atoms = atom_mask.sum(axis=1)
    e_err = (energy - reference["energy"]) / n_atoms / units.MEV
    f_err = (forces - reference["forces"])[atom_mask] / (units.MEV / units.ANGSTROM)
    w_err = (virial - reference["virial"]) / n_atoms[:, None, None] / units.MEV
    init = np.asarray(reference["types"]) == 0
    metrics = {
        "energy_rmse": _rms(e_err), "energy_mae": _mae(e_err),
        "force_rmse": _rms(f_err), "force_mae": _mae(f_err),
        "virial_rmse": _rms(w_err), "virial_mae": _mae(w_err),
        "virial_rmse_types0": _rms(w_err[init]) if init.any() else float("nan"),
        "virial_mae_types0": _mae(w_err[init]) if init.any() else float("nan"),
    }
    if weights is not None:
        se_e = (energy - reference["energy"]) ** 2
        se_f = np.sum(np.where(atom_mask[..., None], forces - reference["forces"], 0.0) ** 2)
        se_w = np.sum((virial - reference["virial"]) ** 2, axis=(1, 2))
        metrics["loss"] = float(
            weights["energy"] * se_e.mean()
            + weights["force"] * se_f / (3.0 * atom_mask.sum())
            + np.mean(np.where(init, weights["virial"], 0.0) * se_w) / 9.0
        )
    return metrics


def shift_corrected_energy_errors(train_ref, train_energy, test_ref, test_energy):
    """Energy errors after removing the model's mean per-atom offset, measured on the training set."""
    shift = np.mean((train_energy - train_ref["energy"]) / np.asarray(train_ref["atom_mask"]).sum(1))
    err = ((test_energy - test_ref["energy"]) / np.asarray(test_ref["atom_mask"]).sum(1) - shift) / units.MEV
    return {"energy_rmse_shift_corrected": _rms(err), "energy_mae_shift_corrected": _mae(err),
            "energy_shift_meV_per_atom": float(shift / units.MEV)}


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


def _mae(x):
    return float(np.mean(np.abs(x)))


def train_dft(potential, params, dataset, settings, seed, checkpoint_path, history_path=None, on_epoch_end=None,
              run_key=""):
    """Pre-training loop: returns (best_params, info). Resumes from ``checkpoint_path`` if present.

    After every epoch: validation metrics, a log line with ETA, a checkpoint (params, optimizer
    state, best params) and the history CSV. The best-validation-loss parameters are kept.
    """
    from tifusion.training.checkpoint import canonical, load_checkpoint, save_checkpoint, save_finished

    finished = finished_training(checkpoint_path, {"best_params": params}, run_key, history_path)
    if finished is not None:
        outputs, info = finished
        return outputs["best_params"], info
    trainer = make_dft_trainer(potential, dataset, settings, seed)
    state = {"params": params, "opt_state": trainer.init(params), "best_params": params}
    info = {"epoch": 0, "best_val_loss": None, "best_epoch": None, "history": []}
    state = canonical(state)
    restored = load_checkpoint(checkpoint_path, state, run_key)
    if restored is not None:
        state, info = restored
        log.info("resuming from %s after epoch %d", checkpoint_path, info["epoch"])
    epochs = int(settings["epochs"])
    while info["epoch"] < epochs:
        started = time.perf_counter()
        epoch = info["epoch"]
        with phase("dft_epoch"):
            params, opt_state, train_metrics = trainer.epoch(state["params"], state["opt_state"], epoch)
        check_finite_epoch(params, train_metrics, epoch + 1, "DFT pre-training")
        with phase("dft_validation"):
            val = trainer.evaluate(params, "validation")
        seconds = time.perf_counter() - started
        row = {"epoch": epoch + 1, **train_metrics, "val_loss": val["loss"],
               **{f"val_{k}": val[k] for k in ("energy_rmse", "force_rmse", "virial_rmse", "virial_rmse_types0")},
               "seconds": seconds}
        improved = info["best_val_loss"] is None or val["loss"] < info["best_val_loss"]
        state = {"params": params, "opt_state": opt_state, "best_params": params if improved else state["best_params"]}
        if improved:
            info["best_val_loss"], info["best_epoch"] = val["loss"], epoch + 1
        info["epoch"] = epoch + 1
        info["history"].append(row)
        save_checkpoint(checkpoint_path, state, info, run_key)
        if history_path is not None:
            write_history(history_path, info["history"])
        eta = np.mean([r["seconds"] for r in info["history"][-5:]]) * (epochs - info["epoch"])
        log.info(
            "epoch %d/%d train %.4g val %.4g | val RMSE E %.2f meV/atom F %.1f meV/A W %.1f meV/atom | %.1f s, ETA %.0f s%s",
            epoch + 1, epochs, row["train_loss"], row["val_loss"], row["val_energy_rmse"], row["val_force_rmse"],
            row["val_virial_rmse"], seconds, eta, " *" if improved else "",
        )
        if on_epoch_end is not None:
            on_epoch_end(info)
    save_finished(checkpoint_path, {"best_params": state["best_params"]}, info, run_key)
    if history_path is not None:
        write_history(history_path, info["history"])
    return state["best_params"], info


def check_finite_epoch(params, metrics, epoch, what):
    """FloatingPointError naming the epoch if its loss or the parameters after it are not finite."""
    bad = [name for name, value in metrics.items() if not np.isfinite(value)]
    if bad or not all(bool(np.all(np.isfinite(np.asarray(x)))) for x in jax.tree_util.tree_leaves(params)):
        raise FloatingPointError(f"{what}, epoch {epoch}: {'the ' + ', '.join(bad) if bad else 'a parameter'} is not "
                                 "finite (a learning rate or loss weight too large?); no model is written")


def finished_training(checkpoint_path, template, run_key, history_path):
    """(outputs, info) of a finished training's checkpoint, with its history CSV written again, or None if the
    checkpoint does not hold a finished run of ``run_key``."""
    from tifusion.training.checkpoint import load_finished

    finished = load_finished(checkpoint_path, template, run_key)
    if finished is not None:
        log.info("%s holds this training, finished after epoch %d: writing its outputs", checkpoint_path,
                 finished[1]["epoch"])
        if history_path is not None:
            write_history(history_path, finished[1]["history"])
    return finished


def write_history(path, history):
    import pandas as pd

    from tifusion.io import write_csv

    write_csv(path, pd.DataFrame(history))


def mean_atom_energy(dataset):
    """Mean energy per atom of the training configurations (kJ/mol)."""
    train = np.asarray(dataset.split) == SPLITS["train"]
    return float(np.sum(np.asarray(dataset.energy)[train]) / np.sum(np.asarray(dataset.atom_mask)[train]))


def run_pretraining(dataset_path, model_hparams, settings, seed, model_path, history_path, checkpoint_path,
                    config_record=None, fit_atom_energy_offset=False):
    """The ``train_dft_pretrained`` rule: DimeNet++ from random init, best-validation model saved.

    ``fit_atom_energy_offset``: start the model from the training set's mean energy per atom (a
    fixed offset stored with the model) instead of learning the absolute energy (the paper).
    """
    from tifusion.data.dataset import load_dataset
    from tifusion.io import provenance
    from tifusion.model.dimenet import make_dimenet
    from tifusion.model.io import save_model

    dataset = load_dataset(dataset_path)
    if fit_atom_energy_offset:
        model_hparams = dict(model_hparams, atom_energy_offset=mean_atom_energy(dataset))
        log.info("atom energy offset %.3f kJ/mol (training-set mean)", model_hparams["atom_energy_offset"])
    potential = make_dimenet(model_hparams)
    params = potential.init(jax.random.PRNGKey(seed))
    log.info("DimeNet++ with %d parameters; %d training configurations",
             sum(np.size(x) for x in jax.tree_util.tree_leaves(params)), int(np.sum(np.asarray(dataset.split) == 0)))
    from tifusion.io import npz_content_digest
    from tifusion.training.checkpoint import fingerprint

    run_key = fingerprint(model_hparams, settings, seed, npz_content_digest(dataset_path))
    best, info = train_dft(potential, params, dataset, settings, seed, checkpoint_path, history_path,
                           run_key=run_key)
    record = provenance(config_record, seed, best_epoch=info["best_epoch"], best_val_loss=info["best_val_loss"],
                        selection={"epoch": info["best_epoch"]},
                        selection_rule="lowest DFT validation loss over all epochs")
    save_model(model_path, model_hparams, best, record)
    log.info("saved %s (best epoch %s, validation loss %.4g)", model_path, info["best_epoch"], info["best_val_loss"])
