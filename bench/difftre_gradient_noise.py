"""Signal, noise and direction of the DiffTRe gradients of the EXP loss, from independent trajectories.

    python bench/difftre_gradient_noise.py                          # 4 trajectories of 60 frames (~35 min, 2 cores)
    python bench/difftre_gradient_noise.py --quick                  # 3 trajectories of 8 frames (a few minutes)
    python bench/difftre_gradient_noise.py --weighting C44=5 --weighting pressure=1e-10

The EXP trainer (:mod:`tifusion.training.exp`) takes one optimizer step per trajectory with the
paper's Adam (b1 0.1, b2 0.4), whose first step moves every parameter by the learning rate along the
sign of its loss-gradient component. Whether that moves C11 and C44 toward experiment depends on how
much of the sampled gradient is signal and on which way the loss's gradient points. This script samples
K independent NVT trajectories (config/config.yaml's dt, friction and equilibration, own seeds) of a
saved model at one experimental state point and computes, on the first n frames of each (n = 1/4 and
all), the DiffTRe Jacobian J [6, params] of the observables O = (C11, C33, C44, C12, C13, P)
(:func:`tifusion.training.difftre.make_difftre`).
The loss's gradient is the chain rule dL/dO . J (checked against the trainer's own loss gradient on all
frames), so any loss weighting can be examined from the same Jacobians. It prints:

1. noise: per observable and n, the mean cosine between gradients of different trajectories (1: all
   signal, ~0: noise) and the mean fraction of parameters whose gradient signs agree;
2. direction: the cosines between the observables' gradients (all frames, mean over trajectories);
3. per loss weighting (the config's and each ``--weighting``) and n: the first-order change of every
   observable (GPa) and of the loss (%) by one Adam step of the configured learning rate along
   -sign(dL/dtheta of trajectory k), with J estimated from the *other* trajectories (leave one out:
   the noise of the step and of the estimate are independent); mean +- standard deviation over k,
   under the row "wanted", the sign of target - current;
4. the same for the trainer's Gauss-Newton step (``optimizer.method: gauss_newton``,
   :mod:`tifusion.training.gauss_newton`): the least-norm step toward all targets, no parameter moving by more
   than the learning rate, and how concentrated it is (participation ratio of the step's squares).

5. with the DFT dataset (``--dataset``): the same three kinds of step -- Adam, Gauss-Newton, and Gauss-Newton
   in the metric of the DFT loss's Fisher diagonal F (:func:`tifusion.training.dft.fisher_diagonal`) -- each
   scaled to the DFT cost 1/2 sum F d^2 of the Adam step (lr^2 sum F / 2): how far each moves the observables
   for the same (second-order, diagonal) damage to the DFT fit.

``--jacobians FILE`` keeps the Jacobians: a second run with other ``--weighting`` reads them back.

Prints the load average: times on a shared machine are upper bounds.
"""
import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from tifusion import units  # noqa: E402
from tifusion.graph import image_range  # noqa: E402
from tifusion.md.nvt import run_nvt  # noqa: E402
from tifusion.md.state import frames_capacity, init_state  # noqa: E402
from tifusion.model.io import load_model  # noqa: E402
from tifusion.observables.elasticity import HEXAGONAL_CONSTANTS  # noqa: E402
from tifusion.data.dataset import load_dataset  # noqa: E402
from tifusion.training.dft import fisher_diagonal  # noqa: E402
from tifusion.training.difftre import make_difftre  # noqa: E402
from tifusion.training.exp import (experimental_statepoints, frame_energy, frame_observables,  # noqa: E402
                                   frame_quantities, frame_quantities_and_gradients, make_prediction_loss,
                                   statepoint_aux, statepoint_outputs)
from tifusion.training.gauss_newton import fisher_preconditioner, least_norm_direction, residual_scales  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OBSERVABLES = HEXAGONAL_CONSTANTS + ("P",)


def flat(tree):
    return np.asarray(ravel_pytree(tree)[0], dtype=np.float64)


def parse_weighting(text, base):
    """"C44=5,pressure=1e-10" -> loss_weights: constants' names set relative weights, stiffness/pressure absolute."""
    weights = {**base, "constants": dict(base.get("constants") or {})}
    for item in text.split(","):
        key, _, value = item.partition("=")
        key = key.strip()
        if key in HEXAGONAL_CONSTANTS:
            weights["constants"][key] = float(value)
        elif key in ("stiffness", "pressure"):
            weights[key] = float(value)
        else:
            raise SystemExit(f"--weighting {text!r}: {key!r} is not one of {HEXAGONAL_CONSTANTS}, stiffness, pressure")
    return weights


def sample(potential, params, point, md, n_trajectories, n_frames, frame_interval_ps, seed):
    """K independent trajectories: a list of frame dicts as the trainer stores them."""
    kT = units.kT(point.temperature_K)
    dt = float(md["dt_ps"])
    run = dict(kT=kT, dt=dt, friction=float(md["friction_per_ps"]))
    interval = int(round(frame_interval_ps / dt))
    equilibration = int(round((float(md.get("initial_equilibration_ps", 0.0)) + float(md["equilibration_ps"])) / dt))
    trajectories = []
    for k in range(n_trajectories):
        started = time.perf_counter()
        state = init_state(jax.random.PRNGKey(seed + k), point.positions, point.box, kT, potential, params)
        state, _ = run_nvt(potential, params, state, equilibration, equilibration, **run)
        state, frames = run_nvt(potential, params, state, n_frames * interval, interval, **run)
        trajectories.append({"positions": frames.positions, "box": frames.box,
                             "kinetic_trace": jnp.trace(frames.kinetic, axis1=1, axis2=2)})
        print(f"trajectory {k}: {n_frames} frames in {time.perf_counter() - started:.0f} s", file=sys.stderr,
              flush=True)
    return trajectories


def jacobians(potential, params, point, trajectories, sizes, loss_weights, chunk):
    """({(n, k): (J [6, params], O [6])} on the first n frames of trajectory k, {k: the trainer's loss gradient})."""
    kT = units.kT(point.temperature_K)
    n_images = image_range(point.box, potential.cutoff)
    capacity = max(frames_capacity(t["positions"], point.box, potential.cutoff) for t in trajectories)
    aux = statepoint_aux(point)
    energy_fn = lambda p, f: frame_energy(potential, p, f, capacity, n_images)  # noqa: E731
    evaluate = make_difftre(lambda p, f: frame_quantities(potential, p, f, capacity, n_images),
                            lambda p, f: frame_quantities_and_gradients(potential, p, f, capacity, n_images),
                            energy_fn, frame_observables, statepoint_outputs, chunk_size=chunk)
    loss_of_predictions = make_prediction_loss(loss_weights)
    result, loss_gradients = {}, {}
    for k, frames in enumerate(trajectories):
        for n in sizes:
            started = time.perf_counter()
            first = jax.tree_util.tree_map(lambda x, n=n: x[:n], frames)
            out = evaluate(params, first, None, kT, aux)
            jacobian = np.stack([flat(jax.tree_util.tree_map(lambda x, m=m: x[m], out.jacobian))
                                 for m in range(len(OBSERVABLES))])
            result[n, k] = (jacobian, np.asarray(out.outputs, dtype=np.float64))
            print(f"trajectory {k}, {n} frames: Jacobian in {time.perf_counter() - started:.0f} s", file=sys.stderr,
                  flush=True)
            if n == max(sizes):  # the trainer's loss gradient, dL/dO . J
                slope = np.asarray(jax.grad(loss_of_predictions)(out.outputs, aux), dtype=np.float64)
                loss_gradients[k] = slope @ jacobian
    return result, loss_gradients


def loss_and_gradient_weights(loss_weights, values, aux):
    """(L, dL/dO [6]) at observables ``values`` [6] (internal units)."""
    loss_of_predictions = make_prediction_loss(loss_weights)
    fn = lambda o: loss_of_predictions(o, aux)  # noqa: E731
    o = jnp.asarray(values)
    return float(fn(o)), np.asarray(jax.grad(fn)(o))


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def predicted_changes(result, sizes, n_trajectories, loss_weights, aux, learning_rate):
    """{n: (changes [K, 6] in GPa, loss changes [K] in %)} of one Adam step per trajectory's loss gradient."""
    n_full = max(sizes)
    out = {}
    for n in sizes:
        changes, loss_changes = [], []
        for k in range(n_trajectories):
            jac, values = result[n, k]
            _, weights = loss_and_gradient_weights(loss_weights, values, aux)
            step = -learning_rate * np.sign(weights @ jac)
            others = [j for j in range(n_trajectories) if j != k]
            jac_others = np.mean([result[n_full, j][0] for j in others], axis=0)
            values_others = np.mean([result[n_full, j][1] for j in others], axis=0)
            loss_others, weights_others = loss_and_gradient_weights(loss_weights, values_others, aux)
            change = jac_others @ step
            changes.append(change / units.GPA)
            loss_changes.append(100 * (weights_others @ change) / loss_others)
        out[n] = (np.asarray(changes), np.asarray(loss_changes))
    return out


def gauss_newton_changes(result, sizes, n_trajectories, loss_weights, aux, learning_rate, ridge):
    """{n: (changes [K, 6] in GPa, fraction of the scaled residual removed [K], participation [K])} of the trainer's
    Gauss-Newton step; participation (sum d^2)^2 / (P sum d^4) is 1 for a step moving all P parameters alike.

    Step of trajectory k: :func:`least_norm_direction` of its own scaled J and residual on n frames (scales from
    the loss weights), its largest component the learning rate (as the trainer); first-order changes J d with J
    from the other trajectories (all frames), as :func:`predicted_changes`.
    """
    n_full = max(sizes)
    loss_of_predictions = make_prediction_loss(loss_weights)
    scales = np.asarray(residual_scales(lambda o: loss_of_predictions(o, aux), len(OBSERVABLES)))
    targets = np.append(aux["targets"], aux["target_pressure"])
    out = {}
    for n in sizes:
        changes, removed, participation = [], [], []
        for k in range(n_trajectories):
            jac, values = result[n, k]
            residual = scales * (values - targets)
            direction = np.asarray(least_norm_direction(jnp.asarray(scales[:, None] * jac), jnp.asarray(residual),
                                                        ridge))
            step = direction * learning_rate / np.abs(direction).max()
            jac_others = np.mean([result[n_full, j][0] for j in range(n_trajectories) if j != k], axis=0)
            change = jac_others @ step
            changes.append(change / units.GPA)
            removed.append(-((scales * change) @ residual) / (residual @ residual))
            participation.append(np.sum(step**2) ** 2 / (step.size * np.sum(step**4)))
        out[n] = (np.asarray(changes), np.asarray(removed), np.asarray(participation))
    return out


def equal_dft_cost_changes(result, n_trajectories, loss_weights, aux, learning_rate, ridge, fisher):
    """{step kind: (changes [K, 6] in GPa, largest |d| / lr [K])}: Adam, Gauss-Newton and Fisher-metric Gauss-Newton
    steps from each trajectory's Jacobian (all frames), scaled to the Adam step's DFT cost lr^2 sum F / 2, evaluated
    (first order) with the other trajectories' Jacobians."""
    n_full = max(n for n, _ in result)
    loss_of_predictions = make_prediction_loss(loss_weights)
    scales = np.asarray(residual_scales(lambda o: loss_of_predictions(o, aux), len(OBSERVABLES)))
    targets = np.append(aux["targets"], aux["target_pressure"])
    budget = 0.5 * learning_rate**2 * np.sum(fisher)
    preconditioners = {"Gauss-Newton": None, "Gauss-Newton, Fisher metric": fisher_preconditioner(fisher)}
    out = {}
    for kind in ("Adam",) + tuple(preconditioners):
        changes, largest = [], []
        for k in range(n_trajectories):
            jac, values = result[n_full, k]
            residual = scales * (values - targets)
            if kind == "Adam":
                step = -learning_rate * np.sign(2 * residual @ (scales[:, None] * jac))
            else:
                p = preconditioners[kind]
                step = np.asarray(least_norm_direction(jnp.asarray(scales[:, None] * jac), jnp.asarray(residual), ridge,
                                                       None if p is None else jnp.asarray(p)))
                step = step * np.sqrt(budget / (0.5 * np.sum(fisher * step**2)))
            jac_others = np.mean([result[n_full, j][0] for j in range(n_trajectories) if j != k], axis=0)
            changes.append(jac_others @ step / units.GPA)
            largest.append(np.abs(step).max() / learning_rate)
        out[kind] = (np.asarray(changes), np.asarray(largest))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(ROOT / "results/default/models/dft_pretrained/model.npz"))
    parser.add_argument("--config", default=str(ROOT / "config/config.yaml"), help="exp_training settings")
    parser.add_argument("--temperature", type=float, default=323.0, help="an experimental temperature (K)")
    parser.add_argument("--trajectories", type=int, help="independent trajectories (default 4; 3 if --quick)")
    parser.add_argument("--frames", type=int, help="frames per trajectory (default 60; 8 if --quick)")
    parser.add_argument("--frame-interval", type=float, default=0.05, help="ps between frames (demo: 0.05)")
    parser.add_argument("--weighting", action="append", default=[],
                        help="a loss weighting to examine besides the config's, e.g. C44=5,pressure=1e-10")
    parser.add_argument("--learning-rate", type=float, default=2.0e-4,
                        help="Adam step (default: the paper's, exp_recipes.paper_adam)")
    parser.add_argument("--ridge", type=float, default=1e-3, help="Gauss-Newton damping (section 4)")
    parser.add_argument("--dataset", type=Path, default=ROOT / "results/default/dataset/dataset.npz",
                        help="DFT dataset for section 5 (skipped if missing)")
    parser.add_argument("--fisher-samples", type=int, default=96, help="training configurations for the Fisher")
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jacobians", type=Path,
                        help="npz file: read the Jacobians from it if it exists (same model, sizes), else write them")
    args = parser.parse_args()
    n_trajectories = args.trajectories or (3 if args.quick else 4)
    n_frames = args.frames or (8 if args.quick else 60)
    if n_trajectories < 3:
        parser.error("--trajectories must be at least 3 (leave-one-out estimates need two others)")
    sizes = sorted({max(2, n_frames // 4), n_frames})
    with open(args.config) as f:
        config = yaml.safe_load(f)
    settings = config["exp_training"]
    learning_rate = args.learning_rate
    weightings = {"config": settings["loss_weights"]}
    weightings.update({w: parse_weighting(w, settings["loss_weights"]) for w in args.weighting})

    potential, params, _, _ = load_model(args.model)
    point = experimental_statepoints([args.temperature])[0]
    aux = statepoint_aux(point)
    if args.jacobians and args.jacobians.exists():
        stored = np.load(args.jacobians)
        result = {(n, k): (stored[f"jacobian_{n}_{k}"], stored[f"values_{n}_{k}"])
                  for n in sizes for k in range(n_trajectories)}
        loss_gradients = {k: stored[f"loss_gradient_{k}"] for k in range(n_trajectories)}
    else:
        trajectories = sample(potential, params, point, settings["md"], n_trajectories, n_frames, args.frame_interval,
                              args.seed)
        result, loss_gradients = jacobians(potential, params, point, trajectories, sizes, settings["loss_weights"],
                                           int(settings.get("chunk_frames", 8)))
        if args.jacobians:
            np.savez(args.jacobians, **{f"jacobian_{n}_{k}": j for (n, k), (j, _) in result.items()},
                     **{f"values_{n}_{k}": v for (n, k), (_, v) in result.items()},
                     **{f"loss_gradient_{k}": g for k, g in loss_gradients.items()})
    n_full = max(sizes)
    chain_rule_error = max(
        np.linalg.norm(loss_and_gradient_weights(settings["loss_weights"], result[n_full, k][1], aux)[1]
                       @ result[n_full, k][0] - loss_gradients[k]) / np.linalg.norm(loss_gradients[k])
        for k in range(n_trajectories))

    print(f"# DiffTRe gradient signal and direction: {Path(args.model)}, {args.temperature:.0f} K experimental box, "
          f"{n_trajectories} independent trajectories of {n_frames} frames every {args.frame_interval} ps; "
          f"jax {jax.__version__}, {os.cpu_count()} cores, load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end\n")
    values = np.mean([result[n_full, k][1] for k in range(n_trajectories)], axis=0) / units.GPA
    targets = np.append(point.targets, point.target_pressure) / units.GPA
    print("| GPa | " + " | ".join(OBSERVABLES) + " |\n|---|" + "---:|" * len(OBSERVABLES))
    print("| model (all frames, mean of trajectories) | " + " | ".join(f"{v:.1f}" for v in values) + " |")
    print("| experiment (target) | " + " | ".join(f"{v:.1f}" for v in targets) + " |")
    print(f"\nChain rule dL/dO . J against the trainer's loss gradient (all frames): max relative difference "
          f"{chain_rule_error:.1e}\n")

    print("## 1. Noise: agreement between trajectories\n")
    print("| observable | frames | cos | sign agreement |\n|---|---:|---:|---:|")
    pairs = list(itertools.combinations(range(n_trajectories), 2))
    for m, n in itertools.product(range(len(OBSERVABLES)), sizes):
        grads = [result[n, k][0][m] for k in range(n_trajectories)]
        cos = np.mean([cosine(grads[a], grads[b]) for a, b in pairs])
        signs = np.mean([np.mean(np.sign(grads[a]) == np.sign(grads[b])) for a, b in pairs])
        print(f"| {OBSERVABLES[m]} | {n} | {cos:.2f} | {signs:.2f} |")

    print(f"\n## 2. Direction: cosines between the observables' gradients ({n_full} frames, mean over trajectories)\n")
    print("| | " + " | ".join(OBSERVABLES) + " |\n|---|" + "---:|" * len(OBSERVABLES))
    for a in range(len(OBSERVABLES)):
        cos = [np.mean([cosine(result[n_full, k][0][a], result[n_full, k][0][b]) for k in range(n_trajectories)])
               for b in range(len(OBSERVABLES))]
        print(f"| {OBSERVABLES[a]} | " + " | ".join(f"{c:+.2f}" for c in cos) + " |")

    print(f"\n## 3. One Adam step (lr {learning_rate:g}) along -sign(dL/dtheta): first-order changes, GPa "
          "(loss: %), mean +- sd over trajectories\n")
    print("| loss weighting | frames | " + " | ".join(OBSERVABLES) + " | loss % |\n|---|---:|" + "---:|" * 7)
    print("| wanted | | " + " | ".join("+" if t > v else "-" for t, v in zip(targets, values)) + " | - |")
    for label, loss_weights in weightings.items():
        for n, (changes, loss_changes) in predicted_changes(result, sizes, n_trajectories, loss_weights, aux,
                                                            learning_rate).items():
            print(f"| {label} | {n} | " + " | ".join(f"{c:+.1f} +- {s:.1f}" for c, s in
                                                      zip(changes.mean(0), changes.std(0, ddof=1)))
                  + f" | {loss_changes.mean():+.0f} +- {loss_changes.std(ddof=1):.0f} |")

    print("\n## 4. The trainer's Gauss-Newton step (optimizer.method: gauss_newton), largest parameter change the "
          "learning rate: first-order changes, GPa\n")
    print(f"Least-norm step toward all targets (ridge {args.ridge:g}) from trajectory k's n frames, evaluated with "
          "the other trajectories' J; 'residual removed' is the first-order fraction of the weighted residual "
          "removed.\n")
    print("| loss weighting | frames | " + " | ".join(OBSERVABLES) + " | residual removed | participation |\n"
          "|---|---:|" + "---:|" * 8)
    print("| wanted | | " + " | ".join("+" if t > v else "-" for t, v in zip(targets, values)) + " | | |")
    for label, loss_weights in weightings.items():
        gauss_newton = gauss_newton_changes(result, sizes, n_trajectories, loss_weights, aux, learning_rate, args.ridge)
        for n, (changes, removed, participation) in gauss_newton.items():
            print(f"| {label} | {n} | " + " | ".join(f"{c:+.1f} +- {s:.1f}" for c, s in
                                                      zip(changes.mean(0), changes.std(0, ddof=1)))
                  + f" | {removed.mean():.2f} +- {removed.std(ddof=1):.2f} | {participation.mean():.3f} |")

    if not args.dataset.exists():
        print(f"\n(section 5 skipped: no DFT dataset at {args.dataset})")
        return
    dft_weights = config["dft_pretraining"]["trainer"]["loss_weights"]
    fisher = np.asarray(ravel_pytree(fisher_diagonal(potential, params, load_dataset(args.dataset), dft_weights,
                                                     args.fisher_samples))[0], dtype=np.float64)
    print(f"\n## 5. Steps of the same DFT cost as the Adam step (Fisher diagonal of the DFT loss from "
          f"{args.fisher_samples} training configurations; {n_full} frames): first-order changes, GPa\n")
    print("| loss weighting | step | " + " | ".join(OBSERVABLES) + " | largest change / lr |\n|---|---|"
          + "---:|" * 7)
    print("| wanted | | " + " | ".join("+" if t > v else "-" for t, v in zip(targets, values)) + " | |")
    for label, loss_weights in weightings.items():
        rows = equal_dft_cost_changes(result, n_trajectories, loss_weights, aux, learning_rate, args.ridge, fisher)
        for kind, (changes, largest) in rows.items():
            print(f"| {label} | {kind} | " + " | ".join(f"{c:+.1f} +- {s:.1f}" for c, s in
                                                         zip(changes.mean(0), changes.std(0, ddof=1)))
                  + f" | {largest.mean():.1f} |")


if __name__ == "__main__":
    main()
