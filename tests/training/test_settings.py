"""A model's EXP trainer settings: the shared section updated by the model's own, nested keys one by one."""
from pathlib import Path

import yaml
from snakemake.utils import update_config

from tifusion.training.settings import merged, model_exp_settings


def test_merged_updates_nested_keys_and_keeps_the_others():
    base = {"md": {"dt_ps": 0.002, "total_ps": 2.0}, "optimizer": {"learning_rate": 5e-4, "b1": 0.1}}
    out = merged(base, {"md": {"total_ps": 9.2}, "optimizer": {"learning_rate": 0.3}, "step_guard": {"max": 1}})
    assert out == {"md": {"dt_ps": 0.002, "total_ps": 9.2}, "optimizer": {"learning_rate": 0.3, "b1": 0.1},
                   "step_guard": {"max": 1}}
    assert base["md"]["total_ps"] == 2.0  # the shared section is not changed


def test_a_model_without_exp_trainer_uses_the_shared_settings():
    shared = {"md": {"total_ps": 2.0}}
    assert model_exp_settings(shared, {"init": "dft_pretrained"}) == shared
    assert model_exp_settings(shared, {"exp_trainer": {"md": {"total_ps": 4.0}}}) == {"md": {"total_ps": 4.0}}


def test_the_paper_config_trains_every_exp_model_with_the_papers_adam_step_over_the_default():
    # Snakemake merges config/paper.yaml over config/config.yaml key by key, so the default models' Gauss-Newton
    # settings would leak into the paper's models unless paper.yaml sets each key back.
    config_dir = Path(__file__).parents[2] / "config"
    config, paper = (yaml.safe_load((config_dir / name).read_text()) for name in ("config.yaml", "paper.yaml"))
    paper_optimizer = dict(paper["exp_training"]["optimizer"])
    update_config(config, paper)  # what --configfile config/config.yaml config/paper.yaml does
    exp_models = [entry for entry in config["models"].values() if "exp" in entry.get("schedule", ())]
    assert len(exp_models) == 3
    for entry in exp_models:
        settings = model_exp_settings(config["exp_training"], entry)
        assert settings["optimizer"]["method"] == "adam"
        assert {k: settings["optimizer"][k] for k in paper_optimizer} == paper_optimizer
        assert settings.get("loss_weights", {}).get("constants", {}).get("C44", 1) == 1
        assert settings.get("step_guard") is None
