"""Atomic output files and their provenance.

Every writer goes through :func:`atomic_path`: the data is written to a temporary file in
the destination folder and renamed into place only when complete, so a killed job never
leaves a file that looks finished. Result files that hold numbers carry a provenance
record (:func:`provenance`): the config values used, the seed, package versions and the
git commit, either embedded (npz ``metadata`` entry, JSON) or as a ``<file>.meta.json``
sidecar (CSV, figures).
"""
import contextlib
import datetime
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np

PACKAGES = ("tifusion", "jax", "jaxlib", "jax-md", "dm-haiku", "optax", "numpy", "scipy", "ase", "phonopy",
            "pandas", "matplotlib", "snakemake")


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes), dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results on a shared file system must be readable
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def git_commit():
    """Commit of the working tree this code runs from, with '-dirty' for local changes."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def package_versions():
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(config=None, seed=None, **extra):
    """The record that lets a number be traced to its run."""
    return {
        "config": config,
        "seed": seed,
        "git_commit": git_commit(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "host": platform.node(),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


INITIAL_MODEL_NOTE = " [initial model kept]"


def initial_model_note(model_metadata):
    """:data:`INITIAL_MODEL_NOTE` for a model whose training kept its initial model (its provenance's
    ``selection.initial_model_kept``), else "": tables and figures append it to the model's label."""
    selection = (model_metadata or {}).get("selection")
    return INITIAL_MODEL_NOTE if isinstance(selection, dict) and selection.get("initial_model_kept") else ""


def noted_labels(labels, model_metadata):
    """``labels`` ({model: label}) with :func:`initial_model_note` appended from ``model_metadata`` ({model:
    the model file's metadata})."""
    return {name: labels.get(name, name) + initial_model_note(model_metadata.get(name))
            for name in {**labels, **model_metadata}}


def _to_jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path, data):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_to_jsonable(data), indent=2, sort_keys=False) + "\n")


def read_json(path):
    return json.loads(Path(path).read_text())


def sidecar_path(path):
    return Path(f"{path}.meta.json")


def write_sidecar(path, record):
    write_json(sidecar_path(path), record)


def save_npz(path, arrays, record=None):
    """Save arrays (and a provenance record as the ``metadata`` entry) atomically."""
    payload = dict(arrays)
    if record is not None:
        payload["metadata"] = np.array(json.dumps(_to_jsonable(record)))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **payload)


def npz_content_digest(path):
    """SHA-256 of an npz file's arrays (names, dtypes, shapes, values), its ``metadata`` entry excluded: equal for
    files with the same numbers whenever and wherever they were written."""
    digest = hashlib.sha256()
    with np.load(path) as data:
        for name in sorted(data.files):
            if name == "metadata":
                continue
            value = data[name]
            digest.update(f"{name}|{value.dtype}|{value.shape}|".encode())
            digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def load_npz_metadata(path):
    with np.load(path) as data:
        return json.loads(str(data["metadata"])) if "metadata" in data.files else None


def write_csv(path, frame, record=None):
    """Write a pandas DataFrame atomically, with a provenance sidecar if given."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    if record is not None:
        write_sidecar(path, record)
