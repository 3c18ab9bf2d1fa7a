"""The EXP trainer's per-state-point loss: the paper's uniform mean over the five constants, and relative weights."""
import jax.numpy as jnp
import numpy as np
import pytest

from tifusion.training.exp import make_prediction_loss, statepoint_outputs
from tifusion.units import GPA, kT

WEIGHTS = {"stiffness": 1.0e-10, "pressure": 1.0e-9}
TARGETS = jnp.array([160.9, 179.5, 46.2, 92.5, 69.1]) * GPA


def outputs_and_aux():
    """(C11, C33, C44, C12, C13, P) of a 150-atom state point with no stress fluctuations: C = <Born parts> + kinetic
    term."""
    aux = {"volume": jnp.asarray(3.0), "kT": jnp.asarray(kT(323.0)), "n_atoms": jnp.asarray(150.0),
           "targets": TARGETS, "target_pressure": jnp.asarray(0.0)}
    averages = {"born": jnp.array([140.0, 210.0, 39.0, 85.0, 64.0]) * GPA, "stress_products": jnp.zeros((5, 5)),
                "stress": jnp.zeros(5), "pressure": jnp.asarray(3.0 * GPA)}
    outputs, _ = statepoint_outputs(averages, aux)
    return averages, outputs, aux


def test_uniform_loss_is_the_mean_squared_deviation_plus_the_pressure_term():
    averages, outputs, aux = outputs_and_aux()
    loss = make_prediction_loss(WEIGHTS)(outputs, aux)
    constants = np.asarray(outputs[:5])
    kinetic = 150.0 * kT(323.0) / 3.0   # N kT / V on the diagonal of C11, C33, C44 (d_ik d_jl + d_il d_jk)
    np.testing.assert_allclose(constants, np.asarray(averages["born"]) + kinetic * np.array([2, 2, 1, 0, 0]),
                               rtol=1e-6)
    expected = 1e-10 * np.mean((constants - np.asarray(TARGETS)) ** 2) + 1e-9 * (3.0 * GPA) ** 2
    np.testing.assert_allclose(float(loss), expected, rtol=1e-6)
    same = make_prediction_loss(dict(WEIGHTS, constants={name: 1.0 for name in ("C11", "C33", "C44")}))(outputs, aux)
    np.testing.assert_allclose(float(same), float(loss), rtol=1e-12)


def test_relative_weight_scales_only_its_constant():
    _, outputs, aux = outputs_and_aux()
    uniform = make_prediction_loss(WEIGHTS)(outputs, aux)
    weighted = make_prediction_loss(dict(WEIGHTS, constants={"C44": 5.0}))(outputs, aux)
    c44_term = 1e-10 / 5 * float(outputs[2] - TARGETS[2]) ** 2
    np.testing.assert_allclose(float(weighted) - float(uniform), 4.0 * c44_term, rtol=1e-6)


def test_unknown_constant_weight_is_named():
    with pytest.raises(ValueError, match="C66"):
        make_prediction_loss(dict(WEIGHTS, constants={"C66": 2.0}))


EAM_START = {"embed": jnp.array(0.98), "pair": jnp.array(1.04)}


def gauss_newton_settings(**extra):
    """A 23 K state point, 20 frames per trajectory, Euclidean Gauss-Newton steps of at most 0.01 per parameter."""
    return {"md": {"dt_ps": 0.002, "friction_per_ps": 10.0, "total_ps": 0.5, "equilibration_ps": 0.1,
                   "frame_interval_ps": 0.02, "initial_equilibration_ps": 0.2},
            "loss_weights": WEIGHTS, "ess_fraction": 1.0, "chunk_frames": 10,
            "optimizer": {"method": "gauss_newton", "step_bound": 0.01, "decay_rate": 1.0, "decay_steps": 100},
            **extra}


@pytest.mark.slow
def test_gauss_newton_updates_lower_the_experimental_loss_of_a_two_parameter_eam(scaled_eam):
    from tifusion.training.exp import experimental_statepoints, make_exp_trainer

    trainer = make_exp_trainer(scaled_eam, experimental_statepoints([23]), gauss_newton_settings(), seed=0)
    params = dict(EAM_START)
    state = trainer.init(params)
    losses, steps = [], []
    for epoch in range(2):
        new, state, metrics = trainer.epoch(params, state, epoch)
        losses.append(metrics["exp_loss"])
        steps.append(max(abs(float(new["embed"] - params["embed"])), abs(float(new["pair"] - params["pair"]))))
        params = new
    _, scored = trainer.score(params, state)
    # no parameter moves by more than the learning rate, and the larger change equals it (the Adam step's bound)
    np.testing.assert_allclose(steps, 0.01, rtol=1e-6)
    assert scored["exp_loss"] < losses[0], f"loss did not decrease: {losses} -> {scored['exp_loss']}"


def test_unknown_optimizer_method_is_rejected(scaled_eam):
    from tifusion.training.exp import experimental_statepoints, make_exp_trainer

    settings = {"md": {"dt_ps": 0.002, "friction_per_ps": 10.0, "total_ps": 0.5, "equilibration_ps": 0.1,
                       "frame_interval_ps": 0.02}, "loss_weights": WEIGHTS,
                "optimizer": {"method": "lbfgs", "learning_rate": 0.01, "decay_rate": 1.0, "decay_steps": 100}}
    with pytest.raises(ValueError, match="optimizer method.*'lbfgs'"):
        make_exp_trainer(scaled_eam, experimental_statepoints([23]), settings, seed=0)


def test_fisher_metric_without_the_dft_fisher_is_rejected(scaled_eam):
    from tifusion.training.exp import experimental_statepoints, make_exp_trainer

    settings = {"md": {"dt_ps": 0.002, "friction_per_ps": 10.0, "total_ps": 0.5, "equilibration_ps": 0.1,
                       "frame_interval_ps": 0.02}, "loss_weights": WEIGHTS,
                "optimizer": {"method": "gauss_newton", "metric": "dft_fisher", "step_bound": 0.01,
                              "decay_rate": 1.0, "decay_steps": 100}}
    with pytest.raises(ValueError, match="dft_fisher.*Fisher diagonal"):
        make_exp_trainer(scaled_eam, experimental_statepoints([23]), settings, seed=0)


def test_a_gauss_newton_step_needs_exactly_one_step_size(scaled_eam):
    from tifusion.training.exp import experimental_statepoints, make_exp_trainer

    settings = gauss_newton_settings()
    settings["optimizer"]["residual_fraction"] = 0.3
    with pytest.raises(ValueError, match="exactly one of residual_fraction and step_bound"):
        make_exp_trainer(scaled_eam, experimental_statepoints([23]), settings, seed=0)


def _largest_change(new, old):
    return max(abs(float(new[k] - old[k])) for k in old)


@pytest.mark.slow
def test_step_guard_halves_a_step_until_the_dft_metric_allows_it_and_rejects_a_step_into_nan(scaled_eam):
    from tifusion.training.exp import experimental_statepoints, make_exp_trainer

    # a stand-in DFT metric: 1 + 100 x the largest parameter change from the start (or NaN, to test rejection)
    mode = {"nan": False}

    def dft_check(params):
        return float("nan") if mode["nan"] and _largest_change(params, EAM_START) > 0 else \
            1.0 + 100.0 * _largest_change(params, EAM_START)

    settings = gauss_newton_settings(step_guard={"max_factor": 1.3, "halvings": 3})
    trainer = make_exp_trainer(scaled_eam, experimental_statepoints([23]), settings, seed=0, dft_check=dft_check)
    state = trainer.init(EAM_START)
    # full step (largest change 0.01): metric 2.0; halved 1.5; quartered 1.25 <= 1.3 x 1.0: taken
    params, state, metrics = trainer.epoch(EAM_START, state, 0)
    assert metrics["statepoints"][0]["step_fraction"] == 0.25
    np.testing.assert_allclose(_largest_change(params, EAM_START), 0.0025, rtol=1e-6)
    mode["nan"] = True
    rejected, state, metrics = trainer.epoch(EAM_START, state, 1)
    assert metrics["statepoints"][0]["step_fraction"] == 0.0
    assert _largest_change(rejected, EAM_START) == 0.0


@pytest.mark.parametrize("guard, message", [({"max_factor": 0.9}, "max_factor must be >= 1"),
                                            ({"max_factor": 1.2, "dft_metric": "stress"}, "dft_metric.*'stress'"),
                                            ({"max_factor": 1.2, "halvings": -1}, "halvings must be >= 0")])
def test_bad_step_guard_is_named(scaled_eam, guard, message):
    from tifusion.training.exp import experimental_statepoints, make_exp_trainer

    with pytest.raises(ValueError, match=f"step_guard.{message}"):
        make_exp_trainer(scaled_eam, experimental_statepoints([23]), gauss_newton_settings(step_guard=guard), seed=0,
                         dft_check=lambda params: 1.0)


def test_step_guard_without_a_dft_metric_is_rejected(scaled_eam):
    from tifusion.training.exp import experimental_statepoints, make_exp_trainer

    with pytest.raises(ValueError, match="step_guard needs a DFT validation metric"):
        make_exp_trainer(scaled_eam, experimental_statepoints([23]), gauss_newton_settings(step_guard={"max_factor": 1.2}),
                         seed=0)


@pytest.mark.slow
def test_a_step_guard_relative_to_the_initial_model_bounds_the_whole_training(scaled_eam):
    from tifusion.training.exp import experimental_statepoints, make_exp_trainer

    def dft_check(params):  # a stand-in DFT metric: 1 + 100 x the largest parameter change from the start
        return 1.0 + 100.0 * _largest_change(params, EAM_START)

    settings = gauss_newton_settings(step_guard={"max_factor": 1.3, "halvings": 4, "reference": "initial"})
    trainer = make_exp_trainer(scaled_eam, experimental_statepoints([23]), settings, seed=0, dft_check=dft_check)
    state = trainer.init(EAM_START)
    params = EAM_START
    for epoch in range(3):
        params, state, metrics = trainer.epoch(params, state, epoch)
        # every model on the way stays within 1.3 x the initial metric (per-step bounds would compound)
        assert dft_check(params) <= 1.3 + 1e-9, (epoch, metrics["statepoints"][0]["step_fraction"])
