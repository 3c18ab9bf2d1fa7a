"""Top-down ("EXP") trainer: experimental elastic constants and zero pressure by DiffTRe (spec section 5).

Each state point is hcp Ti at one temperature, simulated by NVT Langevin MD of the 150-atom
5x5x3 cell at the experimental box of that temperature. Per frame: Born stress sigma_B, Born
stiffness C_B and the instantaneous pressure; per state point, with reweighting weights w:

    C = <C_B> - (V/kT)(<sigma_B sigma_B> - <sigma_B><sigma_B>) + (N kT/V)(d_ik d_jl + d_il d_jk)
    L = w_C mean_{C11,C33,C44,C12,C13} r_m (C_m - C~_m)^2 + w_P (<P> - P~)^2

with relative weights r_m = 1 (the paper) unless ``loss_weights.constants`` sets them.

One optimizer step per state point, in an order permuted per epoch from (seed, epoch), as
the paper's code (sim_batch_size = 1), by the paper's Adam or, with ``optimizer.method: gauss_newton``,
by the least-norm step of :mod:`tifusion.training.gauss_newton`. With ``step_guard``, a step that raises
the DFT validation metric by more than ``max_factor`` is halved (backtracking along the step) up to
``halvings`` times, then rejected: the EXP gradient knows nothing of the DFT fit, and one long step
can leave it (measured: validation force RMSE 37 -> 275 meV/A over one Gauss-Newton step and DFT
epoch). A state point gets a new trajectory whenever its effective sample size falls below
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
from tifusion.observables.elasticity import (HEXAGONAL_CONSTANTS, hexagonal_born_terms,
                                             hexagonal_constants_from_averages)
from tifusion.observables.statistics import block_estimate
from tifusion.potential import energy
from tifusion.training.difftre import (effective_sample_size, make_reweighted_jacobian, make_reweighting,
                                       reweighting_weights)
from tifusion.training.gauss_newton import gauss_newton_pseudo_gradient, residual_scales

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


def frame_observables(potential, params, frame, capacity, n_images):
    """sigma_B, sigma_B (x) sigma_B, the Born parts of C11, C33, C44, C12, C13 and the pressure.

    Only the 5 strain directions the hexagonal constants need are differentiated (equal to the
    full tensor's readout, 5/6 of its cost); the pressure's kinetic part is from the frame's momenta.
    A graph that overflowed ``capacity`` makes the pressure, hence the loss, NaN (never silently wrong).
    """
    box = frame["box"]
    graph = build_graph(frame["positions"], box, potential.cutoff, capacity, n_images)
    sigma, born_hexagonal = hexagonal_born_terms(potential, params, frame["positions"], box, graph)
    volume = jnp.abs(jnp.linalg.det(box))
    pressure = frame["kinetic_trace"] / (3 * volume) - jnp.trace(sigma) / 3
    pressure = jnp.where(overflowed(graph), jnp.nan, pressure)
    return {"sigma": sigma, "sigma_sigma": jnp.einsum("ij,kl->ijkl", sigma, sigma), "born_hexagonal": born_hexagonal,
            "pressure": pressure}


def frame_energy(potential, params, frame, capacity, n_images):
    graph = build_graph(frame["positions"], frame["box"], potential.cutoff, capacity, n_images)
    return energy(potential, params, frame["positions"], frame["box"], graph)


def elastic_constants_from_averages(averages, aux):
    """(C11, C33, C44, C12, C13) and pressure from ensemble averages of :func:`frame_observables`."""
    constants = hexagonal_constants_from_averages(averages["born_hexagonal"], averages["sigma_sigma"],
                                                  averages["sigma"], aux["volume"], aux["kT"], aux["n_atoms"])
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


def make_statepoint_loss(loss_weights):
    """Loss of one state point from ensemble averages of :func:`frame_observables` (:func:`make_prediction_loss`)."""
    loss_of_predictions = make_prediction_loss(loss_weights)

    def loss_fn(averages, aux):
        outputs, predictions = statepoint_outputs(averages, aux)
        return loss_of_predictions(outputs, aux), predictions

    return loss_fn


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
    opt = settings["optimizer"]
    schedule = optax.exponential_decay(opt["learning_rate"], int(opt["lr_decay_steps"]), opt["lr_decay_rate"])
    method = opt.get("method", "adam")
    if method == "adam":
        optimizer = optax.adam(schedule, b1=opt["b1"], b2=opt["b2"])
    elif method == "gauss_newton":
        optimizer = optax.scale_by_learning_rate(schedule)  # the step is -lr x the pseudo-gradient
    else:
        raise ValueError(f"exp_training.optimizer.method must be 'adam' or 'gauss_newton', got {method!r}")
    ridge = float(opt.get("ridge", 1e-3))
    metric = opt.get("metric", "euclidean")
    if metric not in ("euclidean", "dft_fisher"):
        raise ValueError(f"exp_training.optimizer.metric must be 'euclidean' or 'dft_fisher', got {metric!r}")
    if method == "gauss_newton" and metric == "dft_fisher" and dft_fisher is None:
        raise ValueError("exp_training.optimizer.metric 'dft_fisher' needs the DFT loss's Fisher diagonal")
    fisher = dft_fisher if method == "gauss_newton" and metric == "dft_fisher" else None
    step_length = opt.get("step_length", "bounded")
    if step_length not in ("bounded", "residual_fraction"):
        raise ValueError("exp_training.optimizer.step_length must be 'bounded' or 'residual_fraction', "
                         f"got {step_length!r}")
    guard = step_guard_settings(settings.get("step_guard"))
    if guard is not None and dft_check is None:
        raise ValueError("exp_training.step_guard needs a DFT validation metric (dft_check) to bound")
    ess_fraction = float(settings.get("ess_fraction", 1.0))
    chunk = int(settings.get("chunk_frames", 8))
    loss_fn = make_statepoint_loss(settings["loss_weights"])
    loss_of_predictions = make_prediction_loss(settings["loss_weights"])
    compiled_cache = {}
    trajectories = {}  # state point index -> (frames, reference energies, capacity); in memory only

    def compiled(capacity, n_images):
        """(DiffTRe derivative, energies of frames) for one graph shape, compiled once each.

        The derivative is the loss gradient (Adam) or the Jacobian of the constants and the pressure
        (Gauss-Newton); :func:`finish` turns either into the loss and the optimizer's input.
        """
        key = (capacity, n_images)
        if key not in compiled_cache:
            def energy_fn(p, f):
                return frame_energy(potential, p, f, capacity, n_images)

            def frame_fn(p, f):
                return frame_observables(potential, p, f, capacity, n_images)

            derivative = (make_reweighting(frame_fn, energy_fn, loss_fn, chunk_size=chunk) if method == "adam"
                          else make_reweighted_jacobian(frame_fn, energy_fn, statepoint_outputs, chunk_size=chunk))
            compiled_cache[key] = (derivative, jax.jit(jax.vmap(energy_fn, in_axes=(None, 0))))
        return compiled_cache[key]

    def finish(result, aux):
        """``result`` with the scalar loss, and as grad what the optimizer steps along (Gauss-Newton: its direction)."""
        if method == "adam":
            return result
        outputs = result.loss
        loss = loss_of_predictions(outputs, aux)
        if result.grad is None:
            return result._replace(loss=loss)
        scales = residual_scales(lambda o: loss_of_predictions(o, aux), len(outputs))
        targets = jnp.append(aux["targets"], aux["target_pressure"])
        grad = gauss_newton_pseudo_gradient(result.grad, outputs, targets, scales, ridge, fisher,
                                            normalize=step_length == "bounded")
        return result._replace(loss=loss, grad=grad)

    def init(params):
        md_states = []
        for i, point in enumerate(statepoints):
            kT = units.kT(point.temperature_K)
            state = init_state(jax.random.PRNGKey(seed + 1000 * i), point.positions, point.box, kT, potential, params)
            if steps["initial"]:
                state, _ = run_nvt(potential, params, state, steps["initial"], steps["initial"], kT=kT,
                                   dt=md["dt_ps"], friction=md["friction_per_ps"])
            md_states.append(state)
        return {"opt_state": optimizer.init(params), "md_states": md_states}

    def new_trajectory(params, state, i):
        """Frames of state point ``i`` from its last MD state (which ``state`` then holds), and their capacity."""
        point = statepoints[i]
        kT = units.kT(point.temperature_K)
        md_state = state["md_states"][i]
        if steps["equilibration"]:
            md_state, _ = run_nvt(potential, params, md_state, steps["equilibration"], steps["equilibration"], kT=kT,
                                  dt=md["dt_ps"], friction=md["friction_per_ps"])
        md_state, frames = run_nvt(potential, params, md_state, steps["production"], steps["frame_interval"], kT=kT,
                                   dt=md["dt_ps"], friction=md["friction_per_ps"])
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
            frames, capacity = new_trajectory(params, state, i)
            reference = None
        sampled = time.perf_counter()
        aux = statepoint_aux(point)
        result = finish(compiled(capacity, n_images)[0](params, frames, reference, kT, aux), aux)
        if reference is None:
            trajectories[i] = (frames, result.energies, capacity)
        updates, state["opt_state"] = optimizer.update(result.grad, state["opt_state"], params)
        stepped = time.perf_counter()
        params, guarded = guarded_step(params, updates)
        metrics = _statepoint_metrics(point, result, aux, new_trajectory=not reuse, seconds_md=sampled - started,
                                      seconds_gradient=stepped - sampled, seconds_guard=time.perf_counter() - stepped,
                                      **guarded)
        return params, state, metrics

    def guarded_step(params, updates):
        """``params + f x updates`` with f = 1, 1/2, 1/4, ... the first within the guard (f = 0: rejected)."""
        if guard is None:
            return optax.apply_updates(params, updates), {"step_fraction": 1.0}
        before = dft_check(params)
        fraction = 1.0
        for _ in range(guard["halvings"] + 1):
            trial = optax.apply_updates(params, jax.tree_util.tree_map(lambda u: fraction * u, updates))
            after = dft_check(trial)
            if after <= guard["max_factor"] * before:  # NaN fails: a step into NaN is never taken
                return trial, {"step_fraction": fraction, "dft_check_before": before, "dft_check_after": after}
            log.info("  step guard: DFT %s %.4g -> %.4g at step fraction %g; halving", guard["dft_metric"], before,
                     after, fraction)
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
            frames, capacity = new_trajectory(params, state, i)
            sampled = time.perf_counter()
            aux = statepoint_aux(point)
            result = finish(compiled(capacity, image_range(point.box, potential.cutoff))[0](
                params, frames, None, units.kT(point.temperature_K), aux, with_grad=False), aux)
            rows.append(_statepoint_metrics(point, result, aux, new_trajectory=True, seconds_md=sampled - started,
                                            seconds_gradient=0.0))
            _log_statepoint("EXP score", rows[-1])
        return state, {"exp_loss": float(np.mean([r["loss"] for r in rows])), "statepoints": rows}

    def epoch(params, state, epoch_index):
        order = np.random.default_rng([seed, epoch_index]).permutation(len(statepoints))
        rows = []
        for i in order:
            params, state, metrics = update(params, state, int(i))
            rows.append(metrics)
            _log_statepoint("EXP", metrics)
        rows.sort(key=lambda r: r["temperature_K"])
        return params, state, {"exp_loss": float(np.mean([r["loss"] for r in rows])), "statepoints": rows}

    return ExpTrainer(init, epoch, score, statepoints)


STEP_GUARD_METRICS = ("force_rmse", "energy_rmse", "virial_rmse", "loss")


def step_guard_settings(guard):
    """The ``exp_training.step_guard`` section with its defaults, checked; None when off."""
    if guard is None:
        return None
    guard = {"dft_metric": "force_rmse", "halvings": 3, **guard}
    if guard["dft_metric"] not in STEP_GUARD_METRICS:
        raise ValueError(f"exp_training.step_guard.dft_metric must be one of {STEP_GUARD_METRICS}, "
                         f"got {guard['dft_metric']!r}")
    max_factor = guard.get("max_factor")
    if not isinstance(max_factor, (int, float)) or not max_factor >= 1.0:
        raise ValueError(f"exp_training.step_guard.max_factor must be >= 1, got {guard.get('max_factor')!r}")
    if int(guard["halvings"]) < 0:
        raise ValueError(f"exp_training.step_guard.halvings must be >= 0, got {guard['halvings']!r}")
    return {"dft_metric": guard["dft_metric"], "max_factor": float(guard["max_factor"]),
            "halvings": int(guard["halvings"])}


def statepoint_aux(point):
    """The constants of a state point's loss (internal units), as arrays for the compiled loss."""
    return {"volume": jnp.abs(jnp.linalg.det(jnp.asarray(point.box))),
            "kT": jnp.asarray(units.kT(point.temperature_K)), "n_atoms": jnp.asarray(float(len(point.positions))),
            "targets": jnp.asarray(point.targets), "target_pressure": jnp.asarray(point.target_pressure)}


def _statepoint_metrics(point, result, aux, **extra):
    errors = _block_errors(result.observables, aux)
    metrics = {"temperature_K": point.temperature_K, "loss": float(result.loss), "n_eff": float(result.n_eff),
               "n_frames": int(len(result.energies)), **extra,
               "pressure_GPa": float(result.predictions["pressure"]) / units.GPA,
               "pressure_err_GPa": float(errors[1]) / units.GPA}
    for k, name in enumerate(HEXAGONAL_CONSTANTS):
        metrics[f"{name}_GPa"] = float(result.predictions["elastic"][k]) / units.GPA
        metrics[f"{name}_err_GPa"] = float(errors[0][k]) / units.GPA
    return metrics


def _log_statepoint(what, metrics):
    log.info("  %s %4.0f K: loss %.4g | C11 %.1f C33 %.1f C44 %.1f C12 %.1f C13 %.1f GPa | P %.2f GPa | "
             "n_eff %.0f/%d | MD %.0f s, gradient %.0f s%s", what, metrics["temperature_K"], metrics["loss"],
             metrics["C11_GPa"], metrics["C33_GPa"], metrics["C44_GPa"], metrics["C12_GPa"], metrics["C13_GPa"],
             metrics["pressure_GPa"], metrics["n_eff"], metrics["n_frames"], metrics["seconds_md"],
             metrics["seconds_gradient"],
             f" | step x{metrics['step_fraction']:g}" if metrics.get("step_fraction", 1.0) != 1.0 else "")


def _block_errors(observables, aux, n_blocks=10):
    """Jackknife standard errors (delete one of ``n_blocks`` blocks) of the elastic constants and pressure (uniform
    weights)."""
    observables = jax.tree_util.tree_map(np.asarray, observables)
    n_frames = observables["pressure"].shape[0]
    n_blocks = min(n_blocks, n_frames)
    if n_blocks < 2:
        return np.full(5, np.nan), np.nan

    def estimator(sigma, sigma_sigma, born_hexagonal, pressure):
        averages = {"sigma": sigma.mean(0), "sigma_sigma": sigma_sigma.mean(0),
                    "born_hexagonal": born_hexagonal.mean(0),
                    "pressure": pressure.mean(0)}
        constants, p = elastic_constants_from_averages(averages, aux)
        return np.asarray(constants), np.asarray(p)

    _, errors = block_estimate(estimator, observables["sigma"], observables["sigma_sigma"],
                               observables["born_hexagonal"], observables["pressure"], n_blocks=n_blocks)
    return errors
