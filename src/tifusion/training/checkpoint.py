"""Checkpoints of trainer state: any pytree of arrays, saved atomically, restored into a template.

A trainer writes one after every epoch; a job killed and started again loads it and continues
with the same numbers as an uninterrupted run (the state holds everything random: seeds are
derived from (seed, epoch), never from a running generator).
"""
import hashlib
import json
import logging
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


def load_checkpoint(path, template, key=""):
    """Restore a state with the structure of ``template``: (state, info), or None if there is no
    checkpoint or it belongs to another run (a different ``key``: settings, seed or data changed)."""
    path = Path(path)
    if not path.exists():
        return None
    treedef = jax.tree_util.tree_structure(template)
    with np.load(path) as data:
        stored = str(data["key"]) if "key" in data.files else ""
        if stored != key:
            log.warning("checkpoint %s was written by a run with other settings (key %s, this run %s): "
                        "starting over", path, stored, key)
            return None
        names = sorted(name for name in data.files if name.startswith("leaf_"))
        if len(names) != treedef.num_leaves:
            raise ValueError(
                f"checkpoint {path} holds {len(names)} arrays but the trainer state has {treedef.num_leaves}: "
                "it was written by a different configuration; delete it to start over"
            )
        leaves = [data[name] for name in names]
        info = json.loads(str(data["info"]))
    for name, leaf, ref in zip(names, leaves, jax.tree_util.tree_leaves(template)):
        if np.shape(leaf) != np.shape(ref):
            raise ValueError(f"checkpoint {path}: {name} has shape {np.shape(leaf)}, expected {np.shape(ref)}")
    return canonical(jax.tree_util.tree_unflatten(treedef, leaves)), info
