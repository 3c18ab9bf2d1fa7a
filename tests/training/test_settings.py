"""A model's EXP trainer settings: the shared section updated by the model's own, nested keys one by one."""
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
