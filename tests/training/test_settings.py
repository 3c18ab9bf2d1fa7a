"""A model's trainer settings: the shared sections with the model's recipe and its DFT changes; scenarios are
overlays that add to the default and never have to undo it."""
from pathlib import Path

import yaml
from snakemake.utils import update_config

from tifusion.training.settings import merged, model_dft_settings, model_exp_settings

CONFIG = Path(__file__).parents[2] / "config"


def test_merged_updates_nested_keys_and_keeps_the_others():
    base = {"md": {"dt_ps": 0.002, "total_ps": 2.0}, "optimizer": {"learning_rate": 5e-4, "b1": 0.1}}
    out = merged(base, {"md": {"total_ps": 9.2}, "optimizer": {"learning_rate": 0.3}, "step_guard": {"max": 1}})
    assert out == {"md": {"dt_ps": 0.002, "total_ps": 9.2}, "optimizer": {"learning_rate": 0.3, "b1": 0.1},
                   "step_guard": {"max": 1}}
    assert base["md"]["total_ps"] == 2.0  # the shared section is not changed


def test_a_models_exp_settings_are_the_shared_section_with_its_recipe():
    config = {"exp_training": {"md": {"total_ps": 2.0}, "loss_weights": {"stiffness": 1e-10, "pressure": 1e-9}},
              "exp_recipes": {"adam": {"optimizer": {"method": "adam"}},
                              "guarded": {"optimizer": {"method": "gauss_newton"}, "constant_weights": {"C44": 5},
                                          "step_guard": {"max_factor": 1.3}}}}
    plain = model_exp_settings(config, {"exp_recipe": "adam"})
    assert plain == {"md": {"total_ps": 2.0}, "optimizer": {"method": "adam"}, "step_guard": None,
                     "loss_weights": {"stiffness": 1e-10, "pressure": 1e-9, "constants": {}}}
    guarded = model_exp_settings(config, {"exp_recipe": "guarded"})
    assert guarded["loss_weights"]["constants"] == {"C44": 5} and guarded["step_guard"] == {"max_factor": 1.3}
    assert "constants" not in config["exp_training"]["loss_weights"]  # the shared section is not changed
    dft = {"dft_pretraining": {"trainer": {"batch_size": 4, "learning_rate": 3e-3}}}
    assert model_dft_settings(dft, {"dft_trainer": {"learning_rate": 3e-4}}) == {"batch_size": 4, "learning_rate": 3e-4}


def test_the_paper_overlay_trains_every_exp_model_with_the_papers_adam_and_keeps_nothing_of_the_defaults_recipes():
    # Snakemake merges config/paper.yaml over config/config.yaml key by key (what --configfile does).
    config, paper = (yaml.safe_load((CONFIG / name).read_text()) for name in ("config.yaml", "paper.yaml"))
    update_config(config, paper)
    exp_models = [entry for entry in config["models"].values() if "exp" in entry.get("schedule", ())]
    assert len(exp_models) == 3
    for entry in exp_models:
        settings = model_exp_settings(config, entry)
        assert settings["optimizer"] == {"method": "adam", "learning_rate": 2.0e-4, "b1": 0.1, "b2": 0.4,
                                         "decay_rate": 0.1, "decay_steps": 200}
        assert settings["loss_weights"]["constants"] == {} and settings["step_guard"] is None
        assert settings["md"]["dt_ps"] == 0.0005 and settings["md"]["total_ps"] == 80
        if "dft" in entry["schedule"]:
            assert model_dft_settings(config, entry)["learning_rate"] == 5.0e-7
            assert model_dft_settings(config, entry)["batch_size"] == 30
