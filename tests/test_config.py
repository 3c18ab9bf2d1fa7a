"""Parse-time checks of the workflow configuration: each error names the file and line or the key."""
import copy
import json
from pathlib import Path

import pandas as pd
import pytest

from tifusion.config import ConfigError, check_finite, check_workflow, load_yaml, validate
from tifusion.data.settings import PUBLISHED_CONFIGURATIONS, training_split_size
from tifusion.data.published import PUBLISHED_FILES

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = load_yaml(ROOT / "workflow/schemas/config.schema.yaml")
TEMPERATURES = pd.read_csv(ROOT / "src/tifusion/data/experimental/hcp_ti_elastic_and_lattice.csv")["temperature_K"].tolist()


@pytest.fixture
def config():
    data = json.loads(json.dumps(load_yaml(ROOT / "config/config.yaml")))  # YAML aliases become separate objects
    validate(data, SCHEMA)
    return data


def check(config):
    validate(config, SCHEMA)
    check_workflow(config, SCHEMA, TEMPERATURES, training_split_size(config["dataset"]))


def test_the_shipped_configs_pass(config):
    check(config)
    for overlay in ROOT.glob("config/**/*.yaml"):
        merged = copy.deepcopy(config)
        from snakemake.utils import update_config

        update_config(merged, load_yaml(overlay))
        check(merged)


def test_duplicate_keys_and_syntax_errors_name_the_file_and_line(tmp_path):
    duplicate = tmp_path / "duplicate.yaml"
    duplicate.write_text("seed: 0\nmodels:\n  a: 1\n  a: 2\n")
    with pytest.raises(ConfigError, match=f"{duplicate}, line 4: duplicate key 'a' \\(first at line 3\\)"):
        load_yaml(duplicate)
    broken = tmp_path / "broken.yaml"
    broken.write_text("seed: 0\nmodels: [1, 2\nrun: 3\n")
    with pytest.raises(ConfigError, match=f"{broken}, line \\d+, column \\d+"):
        load_yaml(broken)


def test_non_finite_numbers_are_refused_by_key():
    with pytest.raises(ConfigError, match=r"config exp_recipes.r.optimizer.learning_rate: nan"):
        check_finite({"exp_recipes": {"r": {"optimizer": {"learning_rate": float("nan")}}}})
    with pytest.raises(ConfigError, match=r"config properties.temperatures_K.1: inf"):
        check_finite({"properties": {"temperatures_K": [1.0, float("inf")]}})


def test_an_unknown_key_is_one_short_line(config):
    config["bogus"] = {"deep": list(range(1000))}
    with pytest.raises(ConfigError) as error:
        validate(config, SCHEMA)
    assert str(error.value).startswith("config (top level): unknown key 'bogus' (allowed: accelerator, dataset,")
    assert len(str(error.value)) < 300


@pytest.mark.parametrize("change, message", [
    (lambda c: c["models"]["dft_exp_fused"].update(temperatures_K=[500]),
     r"models.dft_exp_fused.temperatures_K: \[500\] K not in the experimental table"),
    (lambda c: c["properties"]["hcp_elastic"].update(temperatures_K=[23, 500]),
     r"properties.hcp_elastic.temperatures_K: \[500\] K"),
    (lambda c: c["models"]["dft_exp_fused"].update(init="dft_pretrianed"),
     r"models.dft_exp_fused.init: 'dft_pretrianed' is not a model"),
    (lambda c: c["models"]["dft_exp_fused"].update(exp_recipe="gauss_newton_within_budgte"),
     r"models.dft_exp_fused.exp_recipe: 'gauss_newton_within_budgte' is not a recipe"),
    (lambda c: c["exp_recipes"]["gauss_newton"].update(optimiser={"method": "adam"}),
     r"exp_recipes.gauss_newton: unknown key 'optimiser'"),
    (lambda c: c["exp_recipes"]["gauss_newton"].update(step_gaurd={"max_factor": 2}),
     r"exp_recipes.gauss_newton: unknown key 'step_gaurd'"),
    (lambda c: c["exp_recipes"]["gauss_newton"]["optimizer"].update(method="lbfgs"),
     r"exp_recipes.gauss_newton.optimizer"),
    (lambda c: c["exp_recipes"]["gauss_newton"]["optimizer"].update(step_bound=0.01),
     r"exp_recipes.gauss_newton.optimizer: a gauss_newton step needs exactly one of"),
    (lambda c: c["models"]["dft_exp_fused"]["dft_trainer"].update(lerning_rate=1e-3),
     r"models.dft_exp_fused.dft_trainer: unknown key 'lerning_rate'"),
    (lambda c: c["dft_pretraining"]["trainer"].update(batch_size=1000),
     r"dft_pretraining.trainer.batch_size: 1000 exceeds the 205 configurations of the training split"),
    (lambda c: c["dataset"].update(split={"train": 0.8, "validation": 0.3}),
     r"dataset.split: train 0.8 \+ validation 0.3 leave no test configurations"),
    (lambda c: c["figures"]["fig3"].update(models=["dft_pretrained", "nope"]),
     r"figures.fig3: \['nope'\] are not models"),
])
def test_errors_found_before_any_job_name_the_key(config, change, message):
    change(config)
    with pytest.raises(ConfigError, match=message):
        check(config)


def test_the_published_count_matches_the_pinned_energy_file():
    header = 128  # .npy version 1 header of a float64 vector
    assert PUBLISHED_FILES["energy.npy"].size == header + 8 * PUBLISHED_CONFIGURATIONS


def test_every_key_is_documented_and_the_readme_lists_them_as_the_schema_says():
    from tifusion.config import key_reference, undocumented_keys

    assert undocumented_keys(SCHEMA) == []
    readme = (ROOT / "config/README.md").read_text()
    assert readme.endswith(key_reference(SCHEMA) + "\n"), "config/README.md is out of date: python -m tifusion.config"
