"""build_dataset: dispatch on the source, atomic write with provenance, clear config errors."""
import numpy as np
import pytest

from tifusion.data.build import build_dataset
from tifusion.data.dataset import load_dataset
from tifusion.io import load_npz_metadata

TINY = {"ev_scan": {"points": 2}, "voigt_strain": {"magnitudes": []}, "random_strain": {"count": 1},
        "rattle": {"count": 1}, "md": {"temperatures_K": {"hcp": [], "bcc": [], "fcc": [], "liquid": []}}}


def test_embedded_build_writes_a_valid_file_with_provenance(tmp_path):
    config = {"source": "embedded", "seed": 5, "split": {"train": 0.6, "validation": 0.2}, "embedded": TINY}
    out = tmp_path / "results" / "dataset" / "dataset.npz"
    ds = build_dataset(config, out)
    loaded = load_dataset(out)
    for name, a, b in zip(ds._fields, ds, loaded):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert loaded.n_configurations == 3 * (1 + 2 + 1 + 1)
    assert [int(np.sum(loaded.split == k)) for k in range(3)] == [9, 3, 3]
    record = load_npz_metadata(out)
    assert record["seed"] == 5 and record["config"]["embedded"] == TINY and record["source"] == "embedded"
    assert record["content"]["split"] == {"train": 9, "validation": 3, "test": 3}
    assert record["content"]["phase"] == {"hcp": 5, "bcc": 5, "fcc": 5}
    assert record["origin"]["teacher"].startswith("zhou2004_ti")
    assert "git_commit" in record and record["packages"]["jax"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["dataset.npz"]


@pytest.mark.parametrize("config, message", [
    ({"source": "dft"}, "key 'source'"),
    ({"source": "embedded"}, "seed"),
    ({"source": "published", "seed": 0}, "download directory"),
    ({"source": "embedded", "seed": 0, "embedded": {"rattles": {"count": 1}}}, "unknown key 'rattles'"),
    ({"source": "embedded", "seed": 0, "split": {"train": 0.9, "validation": 0.2}, "embedded": TINY},
     "split fractions"),
])
def test_bad_config_is_an_error_and_writes_nothing(tmp_path, config, message):
    out = tmp_path / "dataset.npz"
    with pytest.raises((ValueError, KeyError), match=message):
        build_dataset(config, out)
    assert not out.exists()
