"""Published DFT data: pinned checksums, download (file:// URLs), conversion, and every failure mode.

The four small arrays in /work/shared/data/published_dft_small_arrays are the published files
byte for byte; coordinates and forces (not available offline) are synthesised: an fcc 4x4x4
pattern (256 atoms) in each configuration's cell, so cubic cells hold a perfect fcc crystal.
"""
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tifusion import units
from tifusion.data.build import build_dataset
from tifusion.data.dataset import load_dataset, save_dataset
from tifusion.data import published
from tifusion.data.published import (PUBLISHED_FILES, PublishedDataError, PublishedFile, convert_published,
                                     download_published, git_blob_id, verify_file)
from tifusion.structures import fcc_cubic

SMALL_ARRAYS = Path("/work/shared/data/published_dft_small_arrays")
REAL = ("box.npy", "energy.npy", "types.npy", "virial.npy")
pytestmark = pytest.mark.skipif(not SMALL_ARRAYS.is_dir(), reason="published small arrays not available")


def _fcc_fractions():
    positions, box = fcc_cubic(1.0, (4, 4, 4))
    return positions / 4.0


def _write_source(directory, n=None, flat_coords=True, seed=0):
    """Files in the published layout; the real arrays byte for byte when n is None (all 5704).

    Returns the expected-checksum table for download_published."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {name: np.load(SMALL_ARRAYS / name) for name in REAL}
    n_all = len(arrays["energy.npy"])
    n = n_all if n is None else n
    for name in REAL:
        if n == n_all:
            shutil.copyfile(SMALL_ARRAYS / name, directory / name)
        else:
            np.save(directory / name, arrays[name][:n])
    box_rows = arrays["box.npy"][:n].reshape(n, 3, 3).astype(np.float64)
    rng = np.random.default_rng(seed)
    coord = np.einsum("ac,ncd->nad", _fcc_fractions(), box_rows)  # r = s @ rows
    coord = coord + rng.normal(0, 0.01, coord.shape)  # Angstrom
    np.save(directory / "coord.npy", (coord.reshape(n, 768) if flat_coords else coord).astype(np.float32))
    np.save(directory / "force.npy", rng.normal(0, 1.0, (n, 256, 3)).astype(np.float32))
    return {name: PUBLISHED_FILES[name] if n == n_all and name in REAL else PublishedFile(git_blob_id(directory / name))
            for name in PUBLISHED_FILES}


def _url(directory):
    return directory.resolve().as_uri()


def test_pinned_checksums_verify_the_published_arrays():
    for name in REAL:
        verify_file(SMALL_ARRAYS / name, PUBLISHED_FILES[name])  # blob id, size and SHA-256


def test_git_blob_id_equals_git_hash_object(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(bytes(range(256)) * 7)
    git = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, check=True)
    assert git_blob_id(path) == git.stdout.strip()


def test_download_then_convert_gives_canonical_units_signs_and_split(tmp_path):
    source, dest = tmp_path / "source", tmp_path / "downloads"
    files = _write_source(source, n=120)
    paths = download_published(dest, _url(source), retries=0, files=files)
    assert sorted(p.name for p in dest.iterdir() if p.name != ".verified") == sorted(PUBLISHED_FILES)
    assert all(paths[name] == dest / name for name in PUBLISHED_FILES)

    ds = convert_published(dest)
    raw = {name: np.load(source / f"{name}.npy").astype(np.float64) for name in ("box", "coord", "energy", "force",
                                                                                  "virial", "types")}
    np.testing.assert_allclose(ds.positions, raw["coord"].reshape(120, 256, 3) * 0.1)
    np.testing.assert_allclose(ds.box, np.swapaxes(raw["box"].reshape(120, 3, 3), 1, 2) * 0.1)
    np.testing.assert_allclose(ds.energy, raw["energy"] * 96.48533212)
    np.testing.assert_allclose(ds.forces, raw["force"] * 964.8533212)
    np.testing.assert_allclose(ds.virial, raw["virial"].reshape(120, 3, 3) * 96.48533212)
    np.testing.assert_array_equal(ds.types, raw["types"])
    assert [int(np.sum(ds.split == k)) for k in range(3)] == [84, 12, 24]
    assert ds.atom_mask.all()
    # box.npy has rows = lattice vectors: every atom lies inside the cell spanned by our columns
    frac = np.einsum("nij,naj->nai", np.linalg.inv(ds.box), ds.positions)
    assert np.all((frac > -0.01) & (frac < 1.01))
    cubic = np.flatnonzero([np.allclose(b, b[0, 0] * np.eye(3)) for b in ds.box])
    assert len(cubic) >= 2 and set(ds.phase[cubic]) == {"fcc"}
    assert set(ds.phase) <= {"hcp", "bcc", "fcc", "other"}

    # a second download skips the present, verified files (the source may be gone)
    download_published(dest, _url(tmp_path / "nowhere"), retries=0, files=files)


@pytest.mark.slow
def test_full_published_layout_gives_the_authors_split_and_pressure_signs(tmp_path):
    """All 5704 configurations: split 3992/570/1142; tr(W)/3V in GPa for the smallest and the
    largest Init cell equals the published check (+35.7 and -17.4 GPa)."""
    files = _write_source(tmp_path, flat_coords=False)
    assert all(files[name] == PUBLISHED_FILES[name] for name in REAL)  # the real files, unchanged
    ds = convert_published(tmp_path)
    assert [int(np.sum(ds.split == k)) for k in range(3)] == [3992, 570, 1142]
    assert np.all(np.diff(ds.split) >= 0) and int(np.sum(ds.types == 0)) == 1469
    volume = np.linalg.det(ds.box)
    pressure = np.trace(ds.virial, axis1=1, axis2=2) / (3 * volume) / units.GPA
    init = np.flatnonzero(ds.types == 0)
    assert pressure[init[np.argmin(volume[init])]] == pytest.approx(35.7, abs=0.1)
    assert pressure[init[np.argmax(volume[init])]] == pytest.approx(-17.4, abs=0.1)
    assert np.corrcoef(volume[init], pressure[init])[0, 1] < -0.9
    save_dataset(tmp_path / "dataset.npz", ds)
    assert load_dataset(tmp_path / "dataset.npz").n_configurations == 5704


# ------------------------------------------------------------------ failures

def _no_leftovers(directory):
    return [p.name for p in directory.iterdir() if p.name.startswith(".") and p.name != ".verified"] == []


def test_checksum_mismatch_is_one_error_without_retries_and_leaves_nothing(tmp_path, monkeypatch):
    source, dest = tmp_path / "source", tmp_path / "downloads"
    files = _write_source(source, n=20)
    files["energy.npy"] = PublishedFile("0" * 40)
    fetched = []
    original = published._fetch
    monkeypatch.setattr(published, "_fetch", lambda url, target, timeout: (fetched.append(url),
                                                                          original(url, target, timeout)))
    with pytest.raises(PublishedDataError, match=r"energy\.npy: downloaded from .* but .*git blob id.* not retried"):
        download_published(dest, _url(source), retries=3, backoff_s=10, files=files)
    assert sum(url.endswith("energy.npy") for url in fetched) == 1
    assert not (dest / "energy.npy").exists() and _no_leftovers(dest)


def test_verified_files_survive_the_removal_of_a_failed_jobs_outputs(tmp_path, monkeypatch):
    source, dest = tmp_path / "source", tmp_path / "downloads"
    files = _write_source(source, n=20)
    good = dict(files)
    files["virial.npy"] = PublishedFile("0" * 40)
    with pytest.raises(PublishedDataError, match="virial"):
        download_published(dest, _url(source), retries=0, files=files)
    for name in files:  # Snakemake removes every output of the failed job
        (dest / name).unlink(missing_ok=True)
    fetched = []
    original = published._fetch
    monkeypatch.setattr(published, "_fetch", lambda url, target, timeout: (fetched.append(url),
                                                                          original(url, target, timeout)))
    download_published(dest, _url(source), retries=0, files=good)
    assert [url.rsplit("/", 1)[1] for url in fetched] == ["virial.npy"]  # the others came from .verified
    for name, expected in good.items():
        verify_file(dest / name, expected)


def test_truncated_file_is_an_error_and_leaves_nothing(tmp_path):
    source, dest = tmp_path / "source", tmp_path / "downloads"
    files = _write_source(source, n=20)
    data = (source / "force.npy").read_bytes()
    (source / "force.npy").write_bytes(data[: len(data) // 2])
    files["force.npy"] = files["force.npy"]._replace(size=len(data))
    with pytest.raises(PublishedDataError, match=r"force\.npy: truncated"):
        download_published(dest, _url(source), retries=0, files=files)
    assert not (dest / "force.npy").exists() and _no_leftovers(dest)


def test_missing_source_file_is_an_error_without_retries(tmp_path):
    source, dest = tmp_path / "source", tmp_path / "downloads"
    files = _write_source(source, n=20)
    (source / "coord.npy").unlink()
    with pytest.raises(PublishedDataError, match=r"coord\.npy: download from .* after 1 attempt"):
        download_published(dest, _url(source), retries=3, backoff_s=10, files=files)
    assert not (dest / "coord.npy").exists() and _no_leftovers(dest)


def test_present_but_corrupt_file_is_fetched_again(tmp_path):
    source, dest = tmp_path / "source", tmp_path / "downloads"
    files = _write_source(source, n=20)
    dest.mkdir()
    (dest / "types.npy").write_bytes(b"garbage")
    download_published(dest, _url(source), retries=0, files=files)
    verify_file(dest / "types.npy", files["types.npy"])


def _break(directory, name, array):
    (directory / name).unlink()
    if array is not None:
        np.save(directory / name, array)


@pytest.mark.parametrize("name, key, change, message", [
    ("virial.npy", "virial", None, "missing"),
    ("coord.npy", "positions", lambda a: a[:, :700], "shape"),
    ("box.npy", "box", lambda a: a[:19], "shape"),
    ("force.npy", "forces", lambda a: np.where(np.arange(a.size).reshape(a.shape) == 77, np.nan, a), "non-finite"),
    ("energy.npy", "energy", lambda a: np.where(np.arange(a.size) == 3, np.inf, a), "non-finite"),
    ("types.npy", "types", lambda a: a + 1, "0/1"),
])
def test_bad_arrays_are_errors_naming_file_and_key(tmp_path, name, key, change, message):
    _write_source(tmp_path, n=20)
    array = np.load(tmp_path / name)
    _break(tmp_path, name, None if change is None else change(array))
    out = tmp_path / "dataset.npz"
    with pytest.raises(PublishedDataError) as err:
        save_dataset(out, convert_published(tmp_path))
    text = str(err.value)
    assert name in text and message in text
    if message != "missing":
        assert f"key '{key}'" in text
    assert not out.exists()


def test_unreadable_npy_is_an_error_naming_the_file(tmp_path):
    _write_source(tmp_path, n=20)
    (tmp_path / "coord.npy").write_text("version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(PublishedDataError, match=r"coord\.npy: not a readable \.npy"):
        convert_published(tmp_path)


def test_build_dataset_verifies_against_the_pins_and_writes_nothing_on_failure(tmp_path):
    """The real small arrays verify against the pins; a corrupted copy, and the absent
    coordinates, stop the build before anything canonical is written."""
    source, dest = tmp_path / "source", tmp_path / "downloads"
    source.mkdir()
    for name in REAL:
        shutil.copyfile(SMALL_ARRAYS / name, source / name)
    config = {"source": "published", "seed": 0,
              "published": {"base_url": _url(source), "retries": 0, "timeout_s": 10}}
    out = tmp_path / "results" / "dataset.npz"
    with pytest.raises(PublishedDataError, match=r"coord\.npy"):
        build_dataset(config, out, dest)
    assert not out.exists()
    for name in REAL:  # downloaded and verified before the failure
        verify_file(dest / name, PUBLISHED_FILES[name])

    corrupt = bytearray((SMALL_ARRAYS / "virial.npy").read_bytes())
    corrupt[-1] ^= 1
    (source / "virial.npy").write_bytes(bytes(corrupt))
    shutil.rmtree(dest)  # a fresh download directory: nothing verified before
    with pytest.raises(PublishedDataError, match=r"virial\.npy: downloaded from .* git blob id"):
        build_dataset(config, out, dest)
    assert not out.exists() and not (dest / "virial.npy").exists()
