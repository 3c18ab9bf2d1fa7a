"""Canonical dataset format: round trip, validation errors, split rule, neighbour counts."""
import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from tifusion.data.dataset import (Dataset, DatasetError, contiguous_split, load_dataset, max_neighbors,
                                   save_dataset, subset, validate)
from tifusion.io import load_npz_metadata
from tifusion.structures import bcc_cubic, fcc_cubic, hcp_orthogonal, to_atoms


def _dataset(n=10, n_atoms=4, seed=0):
    """A small valid dataset: fcc 1x1x1 cells (4 atoms), the last one with a padding atom."""
    rng = np.random.default_rng(seed)
    positions, box = fcc_cubic(0.4, (1, 1, 1))
    pos = np.repeat(positions[None], n, axis=0) + rng.normal(0, 0.002, (n, n_atoms, 3))
    atom_mask = np.ones((n, n_atoms), dtype=bool)
    atom_mask[-1, -1] = False
    forces = rng.normal(0, 100.0, (n, n_atoms, 3))
    pos[~atom_mask] = 0.0
    forces[~atom_mask] = 0.0
    virial = rng.normal(0, 10.0, (n, 3, 3))
    return Dataset(
        positions=pos, atom_mask=atom_mask, box=np.repeat(box[None], n, axis=0),
        energy=rng.normal(-2000.0, 10.0, n), forces=forces, virial=(virial + np.swapaxes(virial, 1, 2)) / 2,
        types=rng.integers(0, 2, n).astype(np.int64), phase=np.array(["fcc"] * (n - 1) + ["liquid"]),
        split=contiguous_split(n),
    )


def test_contiguous_split_is_the_authors_rule():
    split = contiguous_split(5704, 0.7, 0.1)
    assert [np.sum(split == k) for k in range(3)] == [3992, 570, 1142]
    assert np.all(np.diff(split) >= 0) and split.dtype == np.int8
    assert [np.sum(contiguous_split(10, 0.5, 0.2) == k) for k in range(3)] == [5, 2, 3]
    with pytest.raises(DatasetError, match="split fractions"):
        contiguous_split(10, 0.8, 0.3)


def test_round_trip_keeps_arrays_and_provenance(tmp_path):
    ds = _dataset()
    path = tmp_path / "dataset.npz"
    save_dataset(path, ds, {"seed": 3})
    loaded = load_dataset(path)
    for name, a, b in zip(Dataset._fields, ds, loaded):
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert load_npz_metadata(path)["seed"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["dataset.npz"]  # no temporary file left


def test_subset_selects_each_split_in_order():
    ds = _dataset(n=20)
    parts = [subset(ds, name) for name in ("train", "validation", "test")]
    assert [p.n_configurations for p in parts] == [14, 2, 4]
    np.testing.assert_array_equal(np.concatenate([p.energy for p in parts]), ds.energy)
    with pytest.raises(DatasetError, match="unknown split 'val'"):
        subset(ds, "val")


def _broken(key):
    ds = _dataset()
    arrays = ds._asdict()
    if key == "positions":
        arrays[key] = arrays[key].astype(np.float32)
    elif key == "forces":
        arrays[key] = arrays[key][:, :3]
    elif key == "energy":
        arrays[key] = arrays[key].copy()
        arrays[key][4] = np.nan
    elif key == "virial":
        arrays[key] = arrays[key].copy()
        arrays[key][2, 0, 1] = np.inf
    elif key == "split":
        arrays[key] = arrays[key][::-1].copy()
    elif key == "phase":
        arrays[key] = np.array(["hcp"] * 9 + ["glass"])
    elif key == "types":
        arrays[key] = np.full(10, 2, dtype=np.int64)
    elif key == "atom_mask":
        for name in ("atom_mask", "positions", "forces"):
            arrays[name] = arrays[name].copy()
            arrays[name][0] = 0
    return arrays


@pytest.mark.parametrize("key, message", [
    ("positions", "dtype float64"), ("forces", "shape"), ("energy", "non-finite"), ("virial", "non-finite"),
    ("split", "contiguous"), ("phase", "glass"), ("types", "0 or 1"), ("atom_mask", "no atoms"),
])
def test_load_rejects_bad_arrays_naming_file_and_key(tmp_path, key, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **_broken(key))
    with pytest.raises(DatasetError) as err:
        load_dataset(path)
    assert str(path) in str(err.value) and f"key '{key}'" in str(err.value) and message in str(err.value)


def test_load_rejects_missing_and_unexpected_keys(tmp_path):
    arrays = _dataset()._asdict()
    del arrays["virial"]
    np.savez(tmp_path / "missing.npz", **arrays)
    with pytest.raises(DatasetError, match=r"missing.npz: key 'virial': missing"):
        load_dataset(tmp_path / "missing.npz")
    np.savez(tmp_path / "extra.npz", **_dataset()._asdict(), stress=np.zeros(3))
    with pytest.raises(DatasetError, match=r"extra.npz: key 'stress'"):
        load_dataset(tmp_path / "extra.npz")


def test_save_refuses_invalid_data_and_writes_nothing(tmp_path):
    bad = Dataset(**_broken("energy"))
    with pytest.raises(DatasetError, match="key 'energy'"):
        save_dataset(tmp_path / "dataset.npz", bad)
    assert list(tmp_path.iterdir()) == []


def test_padding_atoms_must_be_zero():
    arrays = _dataset()._asdict()
    arrays["forces"] = arrays["forces"].copy()
    arrays["forces"][-1, -1] = 1.0
    with pytest.raises(DatasetError, match="key 'forces': padding atoms"):
        validate(Dataset(**arrays))


def _unlabelled(cells):
    """A valid dataset of (positions, box) cells, padded to the largest, with zero labels."""
    n, n_max = len(cells), max(len(p) for p, _ in cells)
    positions = np.zeros((n, n_max, 3))
    mask = np.zeros((n, n_max), dtype=bool)
    for k, (p, _) in enumerate(cells):
        positions[k, :len(p)], mask[k, :len(p)] = p, True
    return validate(Dataset(
        positions=positions, atom_mask=mask, box=np.stack([b for _, b in cells]), energy=np.zeros(n),
        forces=np.zeros((n, n_max, 3)), virial=np.zeros((n, 3, 3)), types=np.zeros(n, dtype=np.int64),
        phase=np.array(["other"] * n), split=contiguous_split(n)))


def test_max_neighbors_matches_shell_counts_and_ase():
    """Analytic shell counts (fcc: 12 at a/sqrt2, +6 at a; bcc: 8 at a sqrt3/2, +6 at a) and ASE's
    neighbour list, for cells that need explicit images (fcc 1x1x1) and padded configurations."""
    a = 0.4
    fcc, fcc_box = fcc_cubic(a, (1, 1, 1))
    bcc, bcc_box = bcc_cubic(a, (3, 3, 3))
    hcp, hcp_box = hcp_orthogonal(0.295, 0.477, (4, 2, 3))
    hcp = hcp + np.random.default_rng(1).normal(0, 0.01, hcp.shape)
    ds = _unlabelled([(fcc, fcc_box), (bcc, bcc_box), (hcp, hcp_box)])
    np.testing.assert_array_equal(max_neighbors(ds, 0.75 * a)[:2], [12, 0])
    np.testing.assert_array_equal(max_neighbors(ds, 0.9 * a)[:2], [12, 8])
    counts = max_neighbors(ds, 1.1 * a)
    np.testing.assert_array_equal(counts[:2], [18, 14])
    atoms = to_atoms(hcp, hcp_box)
    assert counts[2] == np.bincount(neighbor_list("i", atoms, 1.1 * a / 0.1)).max()
    assert counts.dtype == np.int64 and np.argmax(counts) == 0


def test_a_truncated_dataset_file_is_named(tmp_path):
    path = tmp_path / "dataset.npz"
    save_dataset(path, _dataset())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=f"{path}: (cannot read as npz|corrupt)"):
        load_dataset(path)
