"""Machinery shared by the MD property runners: protocol times, resumable MD stages, models, outputs.

A property is computed at one or more state points; each state point is a sequence of MD
:class:`Stage` s (e.g. NPT equilibration, NVT equilibration, NVT production). A stage runs in
segments of at most ``segment_steps``; after each segment the arrays the stage keeps from its
frames (``Stage.keep``: e.g. Born terms, velocities) are written to a segment file and then
the MD state (:func:`tifusion.md.state.save_state`) to ``<checkpoint>/state.npz``. A run
killed and started again finds the state, checks that it was written for the same potential,
parameters, protocol and seed (the *fingerprint*), loads the kept segments and continues
where it stopped; a checkpoint of another run is discarded. Continuing from a saved state
gives the same trajectory as an uninterrupted run (the state holds the random key).

Protocol times are in ps and become whole numbers of MD steps (:func:`to_steps`); a time that
is not a multiple of the time step (or a production length that is not a multiple of its
frame interval) is an error naming the protocol key (:mod:`tifusion.md.steps`).
"""
import hashlib
import json
import logging
import shutil
import time
import zlib
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

import jax
import numpy as np

from tifusion.io import load_npz_metadata, save_npz
from tifusion.md.npt import run_npt
from tifusion.md.nvt import run_nvt
from tifusion.md.state import default_capacity, init_state, load_state, save_state
from tifusion.md.steps import to_steps
from tifusion.runtime import phase
from tifusion.units import GPA, kT

log = logging.getLogger(__name__)


def state_key(seed, prop, point=0):
    """PRNG key of one run of property ``prop``: independent streams from one seed.

    ``point`` names a state point (e.g. "T623K"): the key depends on the name, not on the point's
    place in a list, so adding a temperature leaves the other temperatures' runs unchanged. An int
    numbers the successive runs of a single state point (0, 1, ...).
    """
    tag = zlib.crc32(point.encode()) if isinstance(point, str) else int(point)
    return jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(int(seed)), zlib.crc32(prop.encode())), tag)


class Stage(NamedTuple):
    """One MD run of a state point.

    ``ensemble``: "nvt" (:func:`tifusion.md.nvt.run_nvt`) or "npt" (:func:`tifusion.md.npt.run_npt`),
    called with ``md`` as keyword arguments (kT, dt, thermostat, pressure, ...). Frames are recorded
    every ``frame_interval`` steps; ``keep(frames) -> dict of arrays`` (None: discard them) selects
    what the stage returns, concatenated over segments along the first axis.
    """

    name: str
    ensemble: str
    n_steps: int
    frame_interval: int
    md: dict
    keep: Optional[Callable[[Any], dict]] = None


def nvt_settings(protocol, temperature_K):
    """run_nvt keyword arguments of a protocol (its ``thermostat``) at ``temperature_K``."""
    return dict(kT=kT(temperature_K), dt=protocol["dt_ps"], thermostat=protocol["thermostat"],
                friction=protocol["friction_per_ps"], tau=protocol["nose_hoover_tau_ps"], skin=protocol["skin_nm"])


def npt_settings(protocol, temperature_K, pressure_GPa=0.0):
    """run_npt keyword arguments (its ``coupling``): stochastic cell rescaling with a Langevin thermostat."""
    barostat = protocol["barostat"]
    return dict(kT=kT(temperature_K), dt=protocol["dt_ps"], friction=protocol["friction_per_ps"],
                pressure=float(pressure_GPa) * GPA, compressibility=barostat["compressibility_per_GPa"] / GPA,
                coupling=protocol["coupling"], tau_p=barostat["tau_ps"], skin=protocol["skin_nm"])


def _run(potential, params, state, stage, n_steps, label):
    where = f"{label} {stage.name}".strip()
    if stage.ensemble == "nvt":
        return run_nvt(potential, params, state, n_steps, stage.frame_interval, **stage.md, label=where)
    if stage.ensemble == "npt":
        return run_npt(potential, params, state, n_steps, stage.frame_interval, **stage.md, label=where)
    raise ValueError(f"stage {stage.name}: ensemble must be 'nvt' or 'npt', got {stage.ensemble!r}")


def fingerprint(potential, params, **settings):
    """Digest identifying a computation: potential name, parameter values and JSON-able settings."""
    digest = hashlib.sha256(potential.name.encode())
    for leaf in jax.tree_util.tree_leaves(params):
        leaf = np.asarray(leaf)
        digest.update(str((leaf.dtype, leaf.shape)).encode())
        digest.update(np.ascontiguousarray(leaf).tobytes())
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()


class Checkpoint:
    """Where the stages of one state point save their progress (None directory: no saving)."""

    def __init__(self, directory, digest):
        self.directory = None if directory is None else Path(directory)
        self.digest = digest

    @property
    def state_path(self):
        return self.directory / "state.npz"

    def load(self):
        """(state, progress) of a matching checkpoint, or None (a foreign one is removed)."""
        if self.directory is None or not self.state_path.exists():
            return None
        meta = load_npz_metadata(self.state_path) or {}
        if meta.get("fingerprint") != self.digest:
            log.warning("%s: checkpoint of a different potential, protocol or seed; starting over", self.directory)
            self.clear()
            return None
        return load_state(self.state_path), meta["progress"]

    def save(self, state, progress, kept):
        """Write the kept arrays of the last segment (if any), then the state with the progress."""
        if self.directory is None:
            return
        if kept is not None:
            save_npz(self.directory / progress["segments"][-1], kept)
        save_state(self.state_path, state, {"fingerprint": self.digest, "progress": progress})

    def segment(self, name):
        with np.load(self.directory / name) as data:
            return {key: data[key] for key in data.files}

    def clear(self):
        if self.directory is not None and self.directory.exists():
            shutil.rmtree(self.directory)


def run_stages(potential, params, state, stages, checkpoint=None, segment_steps=None, label=""):
    """Run ``stages`` in order from ``state``; returns (final state, {stage name: kept arrays}).

    ``segment_steps``: steps between checkpoints (rounded down to a multiple of each stage's
    frame interval; None: one segment per stage). ``checkpoint``: a :class:`Checkpoint` or None.
    """
    checkpoint = checkpoint or Checkpoint(None, None)
    progress = {"stage": 0, "steps": 0, "segments": []}
    resumed = checkpoint.load()
    if resumed is not None:
        state, progress = resumed
        log.info("%s: resuming at stage %d (%s), step %d", label, progress["stage"],
                 stages[min(progress["stage"], len(stages) - 1)].name, progress["steps"])
    kept = {}
    for name in progress["segments"]:
        stage_name = name.split(".")[0]
        kept.setdefault(stage_name, []).append(checkpoint.segment(name))
    for index in range(progress["stage"], len(stages)):
        stage = stages[index]
        if stage.n_steps % stage.frame_interval:
            raise ValueError(f"stage {stage.name}: {stage.n_steps} steps are not a multiple of the frame interval "
                             f"{stage.frame_interval}")
        segment = stage.n_steps if not segment_steps else max(
            stage.frame_interval, int(segment_steps) // stage.frame_interval * stage.frame_interval)
        done = progress["steps"] if index == progress["stage"] else 0
        started = time.perf_counter()
        first = done
        while done < stage.n_steps:
            n = min(segment, stage.n_steps - done)
            with phase("md"):
                state, frames = jax.block_until_ready(_run(potential, params, state, stage, n, label))
            with phase("frame_observables"):
                part = None if stage.keep is None else {k: np.asarray(v) for k, v in stage.keep(frames).items()}
            bad = [key for key, value in (part or {}).items()
                   if np.issubdtype(value.dtype, np.number) and not np.all(np.isfinite(value))]
            if bad:
                raise FloatingPointError(f"{label} {stage.name}: non-finite {', '.join(bad)} in the frames of steps "
                                         f"{done + 1}-{done + n}; nothing of this run is written")
            done += n
            segments = progress["segments"] + ([f"{stage.name}.{done:010d}.npz"] if part is not None else [])
            progress = {"stage": index, "steps": done, "segments": segments}
            if part is not None:
                kept.setdefault(stage.name, []).append(part)
            if done == stage.n_steps:
                progress = {"stage": index + 1, "steps": 0, "segments": segments}
            checkpoint.save(state, progress, part)
            elapsed = time.perf_counter() - started
            eta = elapsed / (done - first) * (stage.n_steps - done)
            dt = stage.md.get("dt", 0.0)
            log.info("%s %s: %.2f / %.2f ps (%d steps) | %.0f s, stage ETA %.0f s", label, stage.name, done * dt,
                     stage.n_steps * dt, done, elapsed, eta)
    return state, {name: {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
                   for name, parts in kept.items()}


def segment_steps(protocol):
    """Steps between checkpoints (``checkpoint_ps``; None or 0: checkpoint only at the end of each stage)."""
    interval = protocol.get("checkpoint_ps")
    return to_steps(interval, protocol["dt_ps"], "checkpoint_ps") if interval else None


def mean_box(boxes, fraction=0.5):
    """Mean box over the last ``fraction`` of the frames of an NPT run."""
    boxes = np.asarray(boxes)
    return boxes[len(boxes) - max(1, int(round(fraction * len(boxes)))):].mean(axis=0)


def initial_state(key, positions, box, temperature_K, potential, params, capacity=0):
    """:func:`tifusion.md.state.init_state` at ``temperature_K`` with at least ``capacity`` neighbour slots.

    State points of one property pass on the capacity their runs grew to, so that later ones
    start with it (a capacity grown during a run recompiles the MD chunk).
    """
    capacity = max(int(capacity), default_capacity(positions, box, potential.cutoff))
    return init_state(key, positions, box, kT(temperature_K), potential, params, capacity=capacity)


def restart_in_box(key, state, box, temperature_K, potential, params):
    """A fresh state (new Maxwell-Boltzmann momenta) with ``state``'s atoms affinely moved into ``box``.

    Used between an NPT equilibration and NVT runs: the NVT box is the NPT mean box, not the
    last instantaneous one. The neighbour capacity the run has grown to is kept.
    """
    deformation = np.asarray(box) @ np.linalg.inv(np.asarray(state.box))
    positions = np.asarray(state.positions) @ deformation.T
    return initial_state(key, positions, np.asarray(box), temperature_K, potential, params, int(state.capacity))


def compute_and_write(compute, potential, params, protocol, output_path, seed, checkpoint_dir=None, **record):
    """``compute(potential, params, protocol, seed, checkpoint_dir)`` -> arrays, written with provenance.

    The checkpoints are removed once the output exists: a forced re-run starts from scratch.
    """
    from tifusion.io import provenance

    result = compute(potential, params, protocol, seed, checkpoint_dir)
    write_property(output_path, result, provenance(protocol, seed, potential=potential.name, **record))
    clear_checkpoints(checkpoint_dir)
    return result


def clear_checkpoints(checkpoint_dir):
    if checkpoint_dir is not None and Path(checkpoint_dir).exists():
        shutil.rmtree(checkpoint_dir)


def run_property(compute, model_path, protocol, output_path, seed, checkpoint_dir=None, **record):
    """File-level entry of a property rule: load the model, compute, write one npz."""
    potential, params, metadata = load_potential(model_path)
    log.info("%s: %s (%s) -> %s", getattr(compute, "__name__", "property"), model_path, potential.name, output_path)
    return compute_and_write(compute, potential, params, protocol, output_path, seed, checkpoint_dir,
                             model=str(model_path), model_metadata=metadata, **record)


def warn_unresolved(result, names, label, production_ps):
    """Log which of ``names`` have ``<name>_resolved`` False in ``result``: their errors are lower bounds."""
    unresolved = [f"{name} ({float(result[f'{name}_tau_ps']):.2g} ps)" for name in names
                  if not result[f"{name}_resolved"]]
    if unresolved:
        log.warning("%s: production %.3g ps is shorter than 50 correlation times of %s: their errors are lower "
                    "bounds (lengthen production_ps)", label, production_ps, ", ".join(unresolved))


def stack_results(results):
    """Per-state-point dicts of arrays -> one dict with a leading state-point axis."""
    return {key: np.stack([np.asarray(r[key]) for r in results]) for key in results[0]}


def load_potential(model_path):
    """(potential, params, metadata) of a model file written by tifusion.model.io.save_model."""
    from tifusion.model.io import load_model

    potential, params, _, metadata = load_model(model_path)
    return potential, params, metadata


def write_property(path, result, record):
    """Write one property's arrays (internal units) with its provenance record."""
    save_npz(path, {key: np.asarray(value) for key, value in result.items()}, record)
