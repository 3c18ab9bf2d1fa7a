"""The canonical DFT-like dataset: one ``dataset.npz`` in internal units (nm, kJ/mol).

Both sources (the authors' published DFT arrays, :mod:`tifusion.data.published`, and the
offline set labelled by the reference EAM, :mod:`tifusion.data.embedded`) are converted to
this one format, written with :func:`tifusion.io.save_npz` (provenance in ``metadata``):

=============  =========  ============  ====================================================
key            dtype      shape         content
=============  =========  ============  ====================================================
positions      float64    [n, N, 3]     Cartesian positions, nm; padding atoms are zero
atom_mask      bool       [n, N]        real atoms (False = padding, for mixed atom counts)
box            float64    [n, 3, 3]     cell, nm; COLUMNS are lattice vectors (jax-md)
energy         float64    [n]           total energy per configuration, kJ/mol
forces         float64    [n, N, 3]     forces, kJ/mol/nm; zero on padding atoms
virial         float64    [n, 3, 3]     W = -dU/d(eps) = P_pot V per configuration, kJ/mol;
                                        positive under compression (DeePMD sign)
types          int64      [n]           0 = virial trained ("Init"), 1 = energy and forces
                                        only ("Bulk")
phase          str        [n]           "hcp" | "bcc" | "fcc" | "liquid" | "other"
split          int8       [n]           0 train, 1 validation, 2 test; contiguous in file
                                        order (train | validation | test)
=============  =========  ============  ====================================================

The split sizes are train = int(f_train n), validation = int(f_val n), test = the rest
(the rule of the authors' trainer: 3992/570/1142 for their 5704 configurations).
"""
import zipfile
import zlib
from typing import NamedTuple

import numpy as np

from tifusion.graph import image_range
from tifusion.io import save_npz

PHASES = ("hcp", "bcc", "fcc", "liquid", "other")
SPLITS = ("train", "validation", "test")
TYPE_VIRIAL, TYPE_ENERGY_FORCES = 0, 1


class Dataset(NamedTuple):
    positions: np.ndarray  # [n, N, 3] float64, nm
    atom_mask: np.ndarray  # [n, N] bool
    box: np.ndarray  # [n, 3, 3] float64, nm, columns = lattice vectors
    energy: np.ndarray  # [n] float64, kJ/mol
    forces: np.ndarray  # [n, N, 3] float64, kJ/mol/nm
    virial: np.ndarray  # [n, 3, 3] float64, kJ/mol, W = -dU/d(eps)
    types: np.ndarray  # [n] int64, 0 = virial trained, 1 = energy and forces only
    phase: np.ndarray  # [n] str
    split: np.ndarray  # [n] int8, 0 train, 1 validation, 2 test

    @property
    def n_configurations(self):
        return self.energy.shape[0]


class DatasetError(ValueError):
    """A dataset file or array that does not follow the canonical format."""


# key -> (dtype, shape after the configuration axis; "N" = atom axis)
_FORMAT = {
    "positions": (np.float64, ("N", 3)),
    "atom_mask": (np.bool_, ("N",)),
    "box": (np.float64, (3, 3)),
    "energy": (np.float64, ()),
    "forces": (np.float64, ("N", 3)),
    "virial": (np.float64, (3, 3)),
    "types": (np.int64, ()),
    "phase": (np.str_, ()),
    "split": (np.int8, ()),
}
_FLOATS = ("positions", "box", "energy", "forces", "virial")


def check_split_fractions(train_fraction, validation_fraction):
    if not (0 < train_fraction < 1 and 0 <= validation_fraction < 1 and train_fraction + validation_fraction <= 1):
        raise DatasetError(f"split fractions train={train_fraction}, validation={validation_fraction}: "
                           "need 0 < train < 1, 0 <= validation, train + validation <= 1")


def contiguous_split(n, train_fraction=0.7, validation_fraction=0.1):
    """Split labels [n] int8: int(f_train n) train, int(f_val n) validation, the rest test."""
    check_split_fractions(train_fraction, validation_fraction)
    n_train, n_val = int(train_fraction * n), int(validation_fraction * n)
    split = np.full(n, 2, dtype=np.int8)
    split[:n_train] = 0
    split[n_train:n_train + n_val] = 1
    return split


def validate(ds, source="dataset"):
    """Check keys, dtypes, shapes, finiteness and label values; errors name ``source`` and the key."""
    def fail(key, message):
        raise DatasetError(f"{source}: key '{key}': {message}")

    arrays = ds._asdict()
    n = np.shape(arrays["energy"])[0] if np.ndim(arrays["energy"]) == 1 else None
    if n is None:
        fail("energy", f"expected shape [n], got {np.shape(arrays['energy'])}")
    n_atoms = np.shape(arrays["positions"])[1] if np.ndim(arrays["positions"]) == 3 else None
    for key, (dtype, trailing) in _FORMAT.items():
        value = arrays[key]
        if not isinstance(value, np.ndarray):
            fail(key, f"expected a numpy array, got {type(value).__name__}")
        if not np.issubdtype(value.dtype, dtype):
            fail(key, f"expected dtype {np.dtype(dtype).name}, got {value.dtype}")
        expected = (n,) + tuple(n_atoms if d == "N" else d for d in trailing)
        if value.shape != expected:
            fail(key, f"expected shape {expected}, got {value.shape}")
    for key in _FLOATS:
        bad = ~np.isfinite(arrays[key]).reshape(n, -1).all(axis=1)
        if bad.any():
            fail(key, f"non-finite values in {bad.sum()} configuration(s), first at index {np.argmax(bad)}")
    padding = ~ds.atom_mask
    if not ds.atom_mask.any(axis=1).all():
        fail("atom_mask", f"configuration {np.argmin(ds.atom_mask.any(axis=1))} has no atoms")
    for key in ("positions", "forces"):
        if np.any(arrays[key][padding] != 0):
            fail(key, "padding atoms (atom_mask False) must be zero")
    if np.any(np.linalg.det(ds.box) <= 0):
        fail("box", f"non-positive volume (columns not a right-handed cell) at index "
                    f"{np.argmax(np.linalg.det(ds.box) <= 0)}")
    if not np.isin(ds.types, (TYPE_VIRIAL, TYPE_ENERGY_FORCES)).all():
        fail("types", f"values must be 0 or 1, got {sorted(set(ds.types.tolist()))}")
    unknown = set(ds.phase.tolist()) - set(PHASES)
    if unknown:
        fail("phase", f"unknown phase(s) {sorted(unknown)}; allowed {PHASES}")
    if not np.isin(ds.split, (0, 1, 2)).all():
        fail("split", f"values must be 0, 1 or 2, got {sorted(set(ds.split.tolist()))}")
    if np.any(np.diff(ds.split) < 0):
        fail("split", "not contiguous in file order (train | validation | test)")
    return ds


def save_dataset(path, ds, record=None):
    """Validate and write ``ds`` atomically to ``path`` (npz), with ``record`` as metadata."""
    validate(ds, source=f"dataset to write to {path}")
    save_npz(path, ds._asdict(), record)


def load_dataset(path):
    """Read and validate a canonical ``dataset.npz``; errors name the file and the key."""
    unreadable = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
    try:
        data = np.load(path, allow_pickle=False)
    except unreadable as err:
        raise DatasetError(f"{path}: cannot read as npz ({type(err).__name__}: {err}); make it again "
                           "(snakemake --forcerun prepare_dataset)") from err
    with data:
        missing = [key for key in Dataset._fields if key not in data.files]
        if missing:
            raise DatasetError(f"{path}: key '{missing[0]}': missing (missing keys: {missing})")
        unexpected = sorted(set(data.files) - set(Dataset._fields) - {"metadata"})
        if unexpected:
            raise DatasetError(f"{path}: key '{unexpected[0]}': not part of the canonical format")
        try:
            ds = Dataset(**{key: data[key] for key in Dataset._fields})
        except unreadable as err:
            raise DatasetError(f"{path}: corrupt ({type(err).__name__}: {err}); make it again "
                               "(snakemake --forcerun prepare_dataset)") from err
    return validate(ds, source=str(path))


def subset(ds, split_name):
    """The configurations of one split: "train", "validation" or "test"."""
    if split_name not in SPLITS:
        raise DatasetError(f"unknown split '{split_name}'; choose one of {SPLITS}")
    keep = ds.split == SPLITS.index(split_name)
    return Dataset(*(value[keep] for value in ds))


def _neighbour_counts(positions, box, atom_mask, cutoff, n_images):
    """Neighbours within ``cutoff`` of every atom [B, N], a chunk of configurations (numpy).

    ``n_images`` as :func:`tifusion.graph.image_range`: None = minimum image, else the cell
    shifts to search explicitly (positions are wrapped first).
    """
    frac = np.einsum("bij,baj->bai", np.linalg.inv(box), positions)
    frac -= np.floor(frac)
    ds = frac[:, None, :, :] - frac[:, :, None, :]  # [B, N, N, 3]: s_j - s_i
    pairs = atom_mask[:, :, None] & atom_mask[:, None, :]
    box_t = np.swapaxes(box, 1, 2)[:, None]
    if n_images is None:
        ds -= np.round(ds)
        shifts = np.zeros((1, 3))
    else:
        shifts = np.stack(np.meshgrid(*(np.arange(-k, k + 1) for k in n_images), indexing="ij"), -1).reshape(-1, 3)
    counts = np.zeros(atom_mask.shape, dtype=np.int64)
    for shift in shifts:
        d = (ds + shift) @ box_t
        counts += np.sum((np.einsum("...i,...i->...", d, d) < cutoff**2) & pairs, axis=2)
    return counts - atom_mask  # every atom found itself (zero shift, j = i)


def max_neighbors(ds, cutoff, max_pairs=2**21):
    """Largest neighbour count within ``cutoff`` (nm) of any atom, per configuration [n] int.

    For sizing model graph capacities; ``np.argmax`` of the result names the worst sample.
    Periodic images are searched explicitly where a cell is narrower than 2 cutoff
    (:func:`tifusion.graph.image_range`); configurations are processed in chunks of at most
    ``max_pairs`` atom pairs (numpy: XLA's top_k in :func:`tifusion.graph.build_graph` is
    far slower for counting alone).
    """
    n, n_atoms = ds.atom_mask.shape
    images = [image_range(ds.box[i], cutoff) for i in range(n)]
    counts = np.zeros(n, dtype=np.int64)
    chunk = max(1, max_pairs // (n_atoms * n_atoms))
    for n_images in set(images):
        group = np.array([i for i in range(n) if images[i] == n_images])
        for start in range(0, len(group), chunk):
            part = group[start:start + chunk]
            per_atom = _neighbour_counts(ds.positions[part], ds.box[part], ds.atom_mask[part], cutoff, n_images)
            counts[part] = per_atom.max(axis=1)
    return counts
