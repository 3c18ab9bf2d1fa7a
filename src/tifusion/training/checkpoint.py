"""Checkpoints of trainer state: any pytree of arrays, saved atomically, restored into a template.

A trainer writes one after every epoch; a job killed and started again loads it and continues
with the same numbers as an uninterrupted run (the state holds everything random: seeds are
derived from (seed, epoch), never from a running generator). A finished training replaces it by its
results (:func:`save_finished`), so that running the same training again writes the same outputs at
once; a training with other settings (another key) starts over. To train again from scratch with the
same settings, delete the checkpoint file.
"""
import hashlib
import json
import logging
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from tifusion.io import save_npz

log = logging.getLogger(__name__)


def fingerprint(*parts):
    """A short hash of everything that determines a training (settings, hyperparameters, seed, data)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def canonical(state):
    """The state as strongly typed device arrays, exactly as a checkpoint restores it.

    Trainers pass every state through this before the first epoch, fresh or restored, so that
    both compile the same programs: weakly typed leaves (from Python scalars) would otherwise
    select different executables, and MD amplifies their last-bit differences.
    """
    return jax.tree_util.tree_map(lambda x: jnp.asarray(np.asarray(x)), state)


def save_checkpoint(path, state, info, key=""):
    """Save the pytree ``state``, the JSON-able ``info`` dict (epoch, history, ...) and the run's ``key``."""
    leaves = jax.tree_util.tree_leaves(state)
    arrays = {f"leaf_{i:05d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    arrays["info"] = np.array(json.dumps(info))
    arrays["key"] = np.array(key)
    save_npz(path, arrays)


def _read(path):
    """(key, info, {name: array}) of a checkpoint file; a ValueError naming the file if it cannot be read."""
    try:
        with np.load(path) as data:
            return (str(data["key"]) if "key" in data.files else "", json.loads(str(data["info"])),
                    {name: data[name] for name in data.files if name.startswith("leaf_")})
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as err:
        raise ValueError(f"checkpoint {path} cannot be read ({type(err).__name__}: {err}); delete it to start "
                         "the training over") from None


def _restore(path, template, arrays):
    """A pytree with the structure of ``template`` from a checkpoint's leaf arrays (count and shapes checked)."""
    treedef = jax.tree_util.tree_structure(template)
    names = sorted(arrays)
    if len(names) != treedef.num_leaves:
        raise ValueError(f"checkpoint {path} holds {len(names)} arrays but the training state has "
                         f"{treedef.num_leaves}: it was written by a different configuration; delete it to start over")
    for name, ref in zip(names, jax.tree_util.tree_leaves(template)):
        if np.shape(arrays[name]) != np.shape(ref):
            raise ValueError(f"checkpoint {path}: {name} has shape {np.shape(arrays[name])}, expected {np.shape(ref)}")
    return canonical(jax.tree_util.tree_unflatten(treedef, [arrays[name] for name in names]))


def load_checkpoint(path, template, key=""):
    """Restore a state with the structure of ``template``: (state, info), or None if there is no
    checkpoint, it belongs to another run (a different ``key``: settings, seed or data changed) or it is a
    finished run's (:func:`load_finished`)."""
    path = Path(path)
    if not path.exists():
        return None
    stored, info, arrays = _read(path)
    if stored != key:
        log.warning("checkpoint %s was written by a run with other settings (key %s, this run %s): "
                    "starting over", path, stored, key)
        return None
    if info.get("finished"):
        return None
    return _restore(path, template, arrays), info


def save_finished(path, outputs, info, key=""):
    """Replace a training's checkpoint by its results once it has finished: the pytree ``outputs`` (e.g. the
    selected parameters) and ``info``. A rerun of the same training (same ``key``) then writes its output files
    from it without recomputing (:func:`load_finished`)."""
    save_checkpoint(path, outputs, dict(info, finished=True), key)


def load_finished(path, template, key=""):
    """(outputs, info) of a finished training with this ``key`` (:func:`save_finished`), else None."""
    path = Path(path)
    if not path.exists():
        return None
    stored, info, arrays = _read(path)
    if stored != key or not info.get("finished"):
        return None
    return _restore(path, template, arrays), info
