"""Provenance helpers: content digests that ignore when a file was written, and labels that say a training kept its
initial model."""
import numpy as np

from tifusion.io import INITIAL_MODEL_NOTE, noted_labels, npz_content_digest, save_npz


def test_content_digest_depends_on_the_numbers_not_on_the_provenance(tmp_path):
    arrays = {"a": np.arange(3.0), "b": np.eye(2)}
    save_npz(tmp_path / "one.npz", arrays, {"created_utc": "2026-01-01T00:00:00", "git_commit": "abc"})
    save_npz(tmp_path / "two.npz", arrays, {"created_utc": "2026-02-02T00:00:00", "git_commit": "def"})
    save_npz(tmp_path / "three.npz", {"a": np.arange(3.0), "b": 2 * np.eye(2)})
    assert npz_content_digest(tmp_path / "one.npz") == npz_content_digest(tmp_path / "two.npz")
    assert npz_content_digest(tmp_path / "one.npz") != npz_content_digest(tmp_path / "three.npz")


def test_labels_say_when_a_training_kept_its_initial_model():
    metadata = {"fused": {"selection": {"epoch": 0, "initial_model_kept": True}},
                "sequential": {"selection": {"epoch": 2, "initial_model_kept": False}}, "pretrained": None}
    labels = noted_labels({"fused": "DFT & EXP fused", "sequential": "DFT, EXP sequential"}, metadata)
    assert labels == {"fused": "DFT & EXP fused" + INITIAL_MODEL_NOTE, "sequential": "DFT, EXP sequential",
                      "pretrained": "pretrained"}
