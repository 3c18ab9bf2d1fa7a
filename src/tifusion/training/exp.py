"""Top-down ("EXP") trainer: experimental elastic constants and zero pressure by DiffTRe (docs/method.md §5).

Each state point is hcp Ti at one temperature, simulated by NVT Langevin MD of the 150-atom
5x5x3 cell at the experimental box of that temperature. Per frame: Born stress sigma_B, Born
stiffness C_B and the instantaneous pressure; per state point, with reweighting weights w:

    C = <C_B> - (V/kT)(<sigma_B sigma_B> - <sigma_B><sigma_B>) + (N kT/V)(d_ik d_jl + d_il d_jk)
    L = w_C mean_{C11,C33,C44,C12,C13} r_m (C_m - C~_m)^2 + w_P (<P> - P~)^2

with relative weights r_m = 1 (the paper) unless ``loss_weights.constants`` sets them.

One update per state point, in an order permuted per epoch from (seed, epoch), as the paper's code
(sim_batch_size = 1), by the rule of :mod:`tifusion.training.exp_updates` (the paper's Adam or the least-norm
Gauss-Newton step). With ``step_guard``, a step that raises the DFT validation metric by more than
``max_factor`` is halved (backtracking along the step) up to ``halvings`` times, then rejected: the EXP
gradient knows nothing of the DFT fit, and one long step can leave it. A state point gets a new trajectory
whenever its effective sample size falls below
``ess_fraction`` x frames (1.0: every update, the paper); each trajectory continues from the last MD
state of the previous one at that temperature.
"""
import logging
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from tifusion import units
from tifusion.data.experiment import elastic_targets, experimental_cell, load_hcp_experiment
from tifusion.graph import build_graph, image_range, overflowed
from tifusion.md.nvt import run_nvt
from tifusion.md.state import frames_capacity, init_state
from tifusion.md.steps import trajectory_steps
from tifusion.observables.elasticity import (HEXAGONAL_CONSTANTS, N_STRAIN_QUANTITIES,
                                             hexagonal_constants_from_moments, hexagonal_strain_derivatives,
                                             hexagonal_strain_derivatives_and_gradients, hexagonal_stress_and_born)
from tifusion.observables.statistics import block_estimate
from tifusion.potential import energy
from tifusion.runtime import phase
from tifusion.training.difftre import effective_sample_size, make_difftre, reweighting_weights
from tifusion.training.exp_updates import make_update_rule

log = logging.getLogger(__name__)


class StatePoint(NamedTuple):
    temperature_K: float
    positions: np.ndarray  # [N, 3] nm, initial (perfect lattice at the experimental a, c)
    box: np.ndarray  # [3, 3] nm
    targets: np.ndarray  # [5] C11, C33, C44, C12, C13 in kJ/mol/nm^3
    target_pressure: float  # kJ/mol/nm^3


def experimental_statepoints(temperatures_K, target_pressure_GPa=0.0, table=None):
    """State points at experimental temperatures (rows of the experimental table)."""
    table = load_hcp_experiment() if table is None else table
    points = []
    for temperature in temperatures_K:
        positions, box = experimental_cell(temperature, table)
        targets = elastic_targets(temperature, table)
        points.append(StatePoint(float(temperature), np.asarray(positions), np.asarray(box),
                                 np.array([targets[name] for name in HEXAGONAL_CONSTANTS]),
                                 float(target_pressure_GPa) * units.GPA))
    return points


def _frame_energy_of_strain(potential, params, frame, capacity, n_images):
    """eps -> U of a frame under the affine strain eps, and whether its graph overflowed ``capacity``."""
    graph = build_graph(frame["positions"], frame["box"], potential.cutoff, capacity, n_images)
    return (lambda p, eps: energy(potential, p, frame["positions"], frame["box"], graph, eps)), overflowed(graph)


def frame_quantities(potential, params, frame, capacity, n_images):
    """(U, x [12]) of one frame: the energy, its 11 hexagonal strain derivatives
    (:func:`tifusion.observables.elasticity.hexagonal_strain_derivatives`) and the kinetic trace tr K.

    A graph that overflowed ``capacity`` makes x NaN (never silently wrong).
    """
    energy_fn, lost = _frame_energy_of_strain(potential, params, frame, capacity, n_images)
    u, x = hexagonal_strain_derivatives(lambda eps: energy_fn(params, eps), frame["positions"].dtype)
    x = jnp.append(x, frame["kinetic_trace"].astype(x.dtype))
    return u, jnp.where(lost, jnp.nan, x)


def frame_quantities_and_gradients(potential, params, frame, capacity, n_images):
    """:func:`frame_quantities` and their parameter gradients (the kinetic trace's is zero)."""
    energy_fn, lost = _frame_energy_of_strain(potential, params, frame, capacity, n_images)
    u, x, grad_u, grad_x = hexagonal_strain_derivatives_and_gradients(energy_fn, params, frame["positions"].dtype)
    x = jnp.append(x, frame["kinetic_trace"].astype(x.dtype))
    grad_x = jax.tree_util.tree_map(lambda g: jnp.concatenate([g, jnp.zeros_like(g[:1])]), grad_x)
    return u, jnp.where(lost, jnp.nan, x), grad_u, grad_x


def frame_energy(potential, params, frame, capacity, n_images):
    graph = build_graph(frame["positions"], frame["box"], potential.cutoff, capacity, n_images)
    return energy(potential, params, frame["positions"], frame["box"], graph)


def frame_observables(x, aux):
    """The per-frame observables whose averages give the constants and the pressure (quadratic in x): Born stress
    s [5] (Voigt xx, yy, zz, yz, xz), its products s s^T, the Born parts of C11, C33, C44, C12, C13, and the
    pressure tr K / 3V - tr(sigma_B) / 3 with its kinetic part."""
    stress, born = hexagonal_stress_and_born(x[:N_STRAIN_QUANTITIES], aux["volume"])
    pressure = x[N_STRAIN_QUANTITIES] / (3 * aux["volume"]) - jnp.sum(stress[:3]) / 3
    return {"stress": stress, "stress_products": jnp.outer(stress, stress), "born": born, "pressure": pressure}


def elastic_constants_from_averages(averages, aux):
    """(C11, C33, C44, C12, C13) and pressure from ensemble averages of :func:`frame_observables`."""
    constants = hexagonal_constants_from_moments(averages["born"], averages["stress_products"], averages["stress"],
                                                 aux["volume"], aux["kT"], aux["n_atoms"])
    return constants, averages["pressure"]


def make_prediction_loss(loss_weights):
    """The loss as a function of the predictions: ``fn(outputs, aux)``, outputs [6] = (C11, C33, C44, C12, C13, P)
    as :func:`statepoint_outputs` returns them, the targets from aux.

    ``loss_weights``: stiffness, pressure and optionally ``constants``, relative weights of C11, C33,
    C44, C12, C13 inside the mean (missing ones 1, the paper's uniform mean).
    """
    relative = dict(loss_weights.get("constants") or {})
    unknown = set(relative) - set(HEXAGONAL_CONSTANTS)
    if unknown:
        raise ValueError(f"exp_training.loss_weights.constants: {sorted(unknown)} are not among {HEXAGONAL_CONSTANTS}")
    relative = jnp.asarray([float(relative.get(name, 1.0)) for name in HEXAGONAL_CONSTANTS])

    def loss_of_predictions(outputs, aux):
        return (loss_weights["stiffness"] * jnp.mean(relative * (outputs[:5] - aux["targets"]) ** 2)
                + loss_weights["pressure"] * (outputs[5] - aux["target_pressure"]) ** 2)

    return loss_of_predictions


def statepoint_outputs(averages, aux):
    """(C11, C33, C44, C12, C13, P) [6] from ensemble averages, and the predictions as the loss reports them."""
    constants, pressure = elastic_constants_from_averages(averages, aux)
    return jnp.append(constants, pressure), {"elastic": constants, "pressure": pressure}


class ExpTrainer(NamedTuple):
    """init(params) -> state; epoch(params, state, epoch) -> (params, state, metrics);
    score(params, state) -> (state, metrics): the loss without an update."""

    init: Callable
    epoch: Callable
    score: Callable
    statepoints: list


def make_exp_trainer(potential, statepoints, settings, seed, dft_fisher=None, dft_check=None):
    """``settings``: the exp_training config section (md, loss_weights, optimizer, ess_fraction, chunk_frames,
    step_guard).

    ``dft_fisher``: the DFT loss's Fisher diagonal (:func:`tifusion.training.dft.fisher_diagonal`), needed by
    ``optimizer.metric: dft_fisher`` of the Gauss-Newton step. ``dft_check``: params -> the DFT validation
    metric ``step_guard`` bounds (needed when ``step_guard`` is set).
    """
    md = settings["md"]
    try:
        steps = trajectory_steps(md)
    except ValueError as err:
        raise ValueError(f"exp_training.md: {err}") from None
    guard = step_guard_settings(settings.get("step_guard"))
    if guard is not None and dft_check is None:
        raise ValueError("exp_training.step_guard needs a DFT validation metric (dft_check) to bound")
    ess_fraction = float(settings.get("ess_fraction", 1.0))
    chunk = int(settings.get("chunk_frames", 8))
    loss_of_predictions = make_prediction_loss(settings["loss_weights"])
    rule = make_update_rule(settings["optimizer"], loss_of_predictions, dft_fisher)
    compiled_cache = {}
    trajectories = {}  # state point index -> (frames, reference energies, capacity); in memory only

    def compiled(capacity, n_images):
        """(DiffTRe evaluation of the constants, the pressure and their Jacobian, energies of frames) for one graph
        shape, compiled once each."""
        key = (capacity, n_images)
        if key not in compiled_cache:
            def energy_fn(p, f):
                return frame_energy(potential, p, f, capacity, n_images)

            evaluate = make_difftre(lambda p, f: frame_quantities(potential, p, f, capacity, n_images),
                                    lambda p, f: frame_quantities_and_gradients(potential, p, f, capacity, n_images),
                                    energy_fn, frame_observables, statepoint_outputs, chunk_size=chunk)
            compiled_cache[key] = (evaluate, jax.jit(jax.vmap(energy_fn, in_axes=(None, 0))))
        return compiled_cache[key]

    def init(params):
        md_states = []
        for i, point in enumerate(statepoints):
            kT = units.kT(point.temperature_K)
            state = init_state(jax.random.PRNGKey(seed + 1000 * i), point.positions, point.box, kT, potential, params)
            if steps["initial"]:
                state, _ = run_nvt(potential, params, state, steps["initial"], steps["initial"], kT=kT,
                                   dt=md["dt_ps"], friction=md["friction_per_ps"],
                                   label=f"EXP {point.temperature_K:g} K initial equilibration")
            md_states.append(state)
        # the DFT metric of the model the training starts from: the bound of a step guard with reference "initial"
        reference = dft_check(params) if guard is not None else 0.0
        return {"opt_state": rule.init(params), "md_states": md_states, "guard_reference": jnp.asarray(reference)}

    def new_trajectory(params, state, i):
        """Frames of state point ``i`` from its last MD state (which ``state`` then holds), and their capacity."""
        point = statepoints[i]
        kT = units.kT(point.temperature_K)
        md_state = state["md_states"][i]
        if steps["equilibration"]:
            md_state, _ = run_nvt(potential, params, md_state, steps["equilibration"], steps["equilibration"], kT=kT,
                                  dt=md["dt_ps"], friction=md["friction_per_ps"],
                                  label=f"EXP {point.temperature_K:g} K equilibration")
        md_state, frames = run_nvt(potential, params, md_state, steps["production"], steps["frame_interval"], kT=kT,
                                   dt=md["dt_ps"], friction=md["friction_per_ps"],
                                   label=f"EXP {point.temperature_K:g} K trajectory")
        state["md_states"][i] = md_state
        data = {"positions": frames.positions, "kinetic_trace": jnp.trace(frames.kinetic, axis1=1, axis2=2),
                "box": frames.box}
        return data, frames_capacity(frames.positions, point.box, potential.cutoff)

    def update(params, state, i):
        point = statepoints[i]
        kT = units.kT(point.temperature_K)
        n_images = image_range(point.box, potential.cutoff)
        started = time.perf_counter()
        reuse = i in trajectories and ess_fraction < 1.0
        if reuse:
            frames, reference, capacity = trajectories[i]
            energies = compiled(capacity, n_images)[1](params, frames)
            n_eff = float(effective_sample_size(reweighting_weights(energies, reference, kT)))
            reuse = n_eff >= ess_fraction * len(reference)
        if not reuse:
            with phase("exp_md"):
                frames, capacity = new_trajectory(params, state, i)
            reference = None
            log.info("  EXP %4.0f K: trajectory of %d frames in %.0f s; reweighting and Jacobian", point.temperature_K,
                     len(frames["positions"]), time.perf_counter() - started)
        sampled = time.perf_counter()
        aux = statepoint_aux(point)
        with phase("exp_gradient"):
            result = compiled(capacity, n_images)[0](params, frames, reference, kT, aux)
            loss = loss_of_predictions(result.outputs, aux)
            updates, opt_state = jax.block_until_ready(rule.step(result.outputs, result.jacobian, aux,
                                                                 state["opt_state"], params))
        if not (np.isfinite(float(loss)) and all_finite(updates)):
            raise FloatingPointError(f"EXP update at {point.temperature_K:g} K: the loss or the update is not finite "
                                     f"(loss {float(loss)}); the model is not updated")
        state["opt_state"] = opt_state
        if reference is None:
            trajectories[i] = (frames, result.energies, capacity)
        stepped = time.perf_counter()
        with phase("exp_step_guard"):
            params, guarded = guarded_step(params, updates, state)
        metrics = _statepoint_metrics(point, loss, result, aux, loss_of_predictions, new_trajectory=not reuse, seconds_md=sampled - started,
                                      seconds_gradient=stepped - sampled, seconds_guard=time.perf_counter() - stepped,
                                      **guarded)
        return params, state, metrics

    def guarded_step(params, updates, state):
        """``params + f x updates`` with f = 1, 1/2, 1/4, ... the first within the guard (f = 0: rejected).

        The guard's bound is ``max_factor`` times the DFT metric before the step (reference "step") or of the model
        the training started from (reference "initial": a budget for the whole training).
        """
        if guard is None:
            return optax.apply_updates(params, updates), {"step_fraction": 1.0}
        before = dft_check(params)
        bound = guard["max_factor"] * (float(state["guard_reference"]) if guard["reference"] == "initial" else before)
        fraction = 1.0
        for _ in range(guard["halvings"] + 1):
            trial = optax.apply_updates(params, jax.tree_util.tree_map(lambda u: fraction * u, updates))
            after = dft_check(trial)
            if after <= bound:  # NaN fails: a step into NaN is never taken
                return trial, {"step_fraction": fraction, "dft_check_before": before, "dft_check_after": after}
            log.info("  step guard: DFT %s %.4g -> %.4g (bound %.4g) at step fraction %g; halving",
                     guard["dft_metric"], before, after, bound, fraction)
            fraction /= 2
        return params, {"step_fraction": 0.0, "dft_check_before": before, "dft_check_after": before}

    def score(params, state):
        """The experimental loss of ``params`` on a fresh trajectory per state point, without an update.

        Scores a model no epoch has sampled yet (the final one) for model selection; the MD
        states continue as in training. Returns (state, metrics like :func:`epoch`'s).
        """
        rows = []
        for i, point in enumerate(statepoints):
            started = time.perf_counter()
            with phase("exp_md"):
                frames, capacity = new_trajectory(params, state, i)
            sampled = time.perf_counter()
            aux = statepoint_aux(point)
            with phase("exp_score"):
                result = compiled(capacity, image_range(point.box, potential.cutoff))[0](
                    params, frames, None, units.kT(point.temperature_K), aux, with_jacobian=False)
                loss = loss_of_predictions(result.outputs, aux)
            rows.append(_statepoint_metrics(point, loss, result, aux, loss_of_predictions, new_trajectory=True, seconds_md=sampled - started,
                                            seconds_gradient=0.0))
            _log_statepoint("EXP score", rows[-1])
        return state, _epoch_metrics(rows)

    def epoch(params, state, epoch_index):
        order = np.random.default_rng([seed, epoch_index]).permutation(len(statepoints))
        rows = []
        for i in order:
            params, state, metrics = update(params, state, int(i))
            rows.append(metrics)
            _log_statepoint("EXP", metrics)
        rows.sort(key=lambda r: r["temperature_K"])
        return params, state, _epoch_metrics(rows)

    return ExpTrainer(init, epoch, score, statepoints)


STEP_GUARD_METRICS = ("force_rmse", "energy_rmse", "virial_rmse", "loss")


def all_finite(tree):
    """True if every leaf of a pytree of arrays is finite."""
    return all(bool(np.all(np.isfinite(np.asarray(leaf)))) for leaf in jax.tree_util.tree_leaves(tree))


def step_guard_settings(guard):
    """The ``exp_training.step_guard`` section with its defaults, checked; None when off."""
    if guard is None:
        return None
    guard = {"dft_metric": "force_rmse", "halvings": 3, "reference": "step", **guard}
    if guard["reference"] not in ("step", "initial"):
        raise ValueError(f"exp_training.step_guard.reference must be 'step' or 'initial', got {guard['reference']!r}")
    if guard["dft_metric"] not in STEP_GUARD_METRICS:
        raise ValueError(f"exp_training.step_guard.dft_metric must be one of {STEP_GUARD_METRICS}, "
                         f"got {guard['dft_metric']!r}")
    max_factor = guard.get("max_factor")
    if not isinstance(max_factor, (int, float)) or not max_factor >= 1.0:
        raise ValueError(f"exp_training.step_guard.max_factor must be >= 1, got {guard.get('max_factor')!r}")
    if int(guard["halvings"]) < 0:
        raise ValueError(f"exp_training.step_guard.halvings must be >= 0, got {guard['halvings']!r}")
    return {"dft_metric": guard["dft_metric"], "max_factor": float(guard["max_factor"]),
            "halvings": int(guard["halvings"]), "reference": guard["reference"]}


def statepoint_aux(point):
    """The constants of a state point's loss (internal units), as arrays for the compiled loss."""
    return {"volume": jnp.abs(jnp.linalg.det(jnp.asarray(point.box))),
            "kT": jnp.asarray(units.kT(point.temperature_K)), "n_atoms": jnp.asarray(float(len(point.positions))),
            "targets": jnp.asarray(point.targets), "target_pressure": jnp.asarray(point.target_pressure)}


def _statepoint_metrics(point, loss, result, aux, loss_of_predictions, **extra):
    errors = _jackknife_errors(result.observables, aux, loss_of_predictions)
    metrics = {"temperature_K": point.temperature_K, "loss": float(loss), "loss_err": float(errors["loss"]),
               "n_eff": float(result.n_eff), "n_frames": int(len(result.energies)), **extra,
               "pressure_GPa": float(result.predictions["pressure"]) / units.GPA,
               "pressure_err_GPa": float(errors["outputs"][5]) / units.GPA}
    for k, name in enumerate(HEXAGONAL_CONSTANTS):
        metrics[f"{name}_GPa"] = float(result.predictions["elastic"][k]) / units.GPA
        metrics[f"{name}_err_GPa"] = float(errors["outputs"][k]) / units.GPA
    return metrics


def _epoch_metrics(rows):
    """The mean loss over the state points and its standard error (independent trajectories)."""
    return {"exp_loss": float(np.mean([r["loss"] for r in rows])),
            "exp_loss_err": float(np.sqrt(np.sum([r["loss_err"] ** 2 for r in rows])) / len(rows)),
            "statepoints": rows}


def _log_statepoint(what, metrics):
    log.info("  %s %4.0f K: loss %.4g +- %.2g | C11 %.1f C33 %.1f C44 %.1f C12 %.1f C13 %.1f GPa | P %.2f GPa | "
             "n_eff %.0f/%d | MD %.0f s, gradient %.0f s%s", what, metrics["temperature_K"], metrics["loss"],
             metrics["loss_err"], metrics["C11_GPa"], metrics["C33_GPa"], metrics["C44_GPa"], metrics["C12_GPa"],
             metrics["C13_GPa"], metrics["pressure_GPa"], metrics["n_eff"], metrics["n_frames"], metrics["seconds_md"],
             metrics["seconds_gradient"],
             f" | step x{metrics['step_fraction']:g}" if metrics.get("step_fraction", 1.0) != 1.0 else "")


def _jackknife_errors(observables, aux, loss_of_predictions, n_blocks=10):
    """Delete-one-block jackknife standard errors (uniform weights) of the outputs (C11, C33, C44, C12, C13, P) [6]
    and of the loss: {"outputs": [6], "loss": scalar} (NaN with fewer than 2 frames)."""
    observables = jax.tree_util.tree_map(np.asarray, observables)
    n_blocks = min(n_blocks, observables["pressure"].shape[0])
    if n_blocks < 2:
        return {"outputs": np.full(6, np.nan), "loss": np.nan}

    def estimator(stress, stress_products, born, pressure):
        averages = {"stress": stress.mean(0), "stress_products": stress_products.mean(0), "born": born.mean(0),
                    "pressure": pressure.mean(0)}
        outputs, _ = statepoint_outputs(averages, aux)
        return {"outputs": np.asarray(outputs), "loss": np.asarray(loss_of_predictions(outputs, aux))}

    _, errors = block_estimate(estimator, observables["stress"], observables["stress_products"],
                               observables["born"], observables["pressure"], n_blocks=n_blocks)
    return errors
