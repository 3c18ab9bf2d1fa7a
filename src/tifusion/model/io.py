"""One-file DimeNet++ model checkpoints: parameters, hyperparameters and provenance.

Format (numpy ``.npz``, written atomically through :func:`tifusion.io.save_npz`):

- ``format``: the string :data:`FORMAT`;
- ``hyperparameters``: JSON of the :func:`~tifusion.model.dimenet.make_dimenet` dict;
- ``params::<haiku module>::<name>``: one array per parameter;
- ``metadata``: JSON provenance record (whatever the caller passes, typically
  :func:`tifusion.io.provenance` plus training information).
"""
import functools
import json
import zipfile
from pathlib import Path

import jax
import numpy as np

from tifusion.io import save_npz
from tifusion.model.dimenet import make_dimenet

FORMAT = "tifusion.dimenet_pp.v1"
_PARAM_PREFIX = "params::"
_SEPARATOR = "::"


def save_model(path, potential_hparams, params, metadata):
    """Write hyperparameters, parameters and metadata to ``path`` (one npz file)."""
    make_dimenet(potential_hparams)  # refuse to write hyperparameters that cannot be loaded
    arrays = {"format": np.array(FORMAT), "hyperparameters": np.array(json.dumps(potential_hparams))}
    for module, values in params.items():
        for name, value in values.items():
            if _SEPARATOR in module or _SEPARATOR in name:
                raise ValueError(f"parameter name {module}/{name} contains the separator {_SEPARATOR!r}")
            if not np.all(np.isfinite(np.asarray(value))):
                raise FloatingPointError(f"{path}: parameter {module}/{name} is not finite; no model is written")
            arrays[f"{_PARAM_PREFIX}{module}{_SEPARATOR}{name}"] = np.asarray(value)
    save_npz(path, arrays, metadata)


def load_model(path):
    """Read a model file: (Potential, params, hyperparameters, metadata).

    Errors name the file and, for missing or inconsistent entries, the key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            contents = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"model file {path} is not a readable npz file: {err}") from err
    for key in ("format", "hyperparameters", "metadata"):
        if key not in contents:
            raise KeyError(f"model file {path} has no entry {key!r}")
    if str(contents["format"]) != FORMAT:
        raise ValueError(f"model file {path} has format {str(contents['format'])!r}, expected {FORMAT!r}")
    try:
        hyperparameters = json.loads(str(contents["hyperparameters"]))
        metadata = json.loads(str(contents["metadata"]))
    except json.JSONDecodeError as err:
        raise ValueError(f"model file {path}: entry 'hyperparameters' or 'metadata' is not valid JSON: {err}") from err
    try:
        potential = make_dimenet(hyperparameters)
    except (KeyError, ValueError, TypeError) as err:
        raise ValueError(f"model file {path}: invalid hyperparameters: {err}") from err

    params = {}
    for key, value in contents.items():
        if key.startswith(_PARAM_PREFIX):
            module, name = key[len(_PARAM_PREFIX):].split(_SEPARATOR)
            params.setdefault(module, {})[name] = jax.numpy.asarray(value)
    expected = _parameter_shapes(potential)
    for module, values in expected.items():
        for name, spec in values.items():
            key = f"{_PARAM_PREFIX}{module}{_SEPARATOR}{name}"
            if key not in contents:
                raise KeyError(f"model file {path} has no entry {key!r}")
            if contents[key].shape != spec.shape:
                raise ValueError(f"model file {path}: entry {key!r} has shape {contents[key].shape}, "
                                 f"the hyperparameters need {spec.shape}")
    extra = [f"{m}{_SEPARATOR}{n}" for m, v in params.items() for n in v if n not in expected.get(m, {})]
    if extra:
        raise ValueError(f"model file {path} has parameters the model does not use: {extra}")
    return potential, params, hyperparameters, metadata


@functools.lru_cache(maxsize=None)
def _parameter_shapes(potential):
    """Shapes of the parameters ``potential.init`` makes: traced, not run (running compiles for 10-20 s)."""
    return jax.eval_shape(potential.init, jax.random.PRNGKey(0))


def load_calculator(path, capacity=None):
    """An ASE calculator for the model in ``path`` (see :class:`tifusion.calculator.PotentialCalculator`)."""
    from tifusion.calculator import PotentialCalculator

    potential, params, _, _ = load_model(path)
    return PotentialCalculator(potential, params, capacity=capacity)
