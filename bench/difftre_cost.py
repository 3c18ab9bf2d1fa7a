"""Cost of one DiffTRe update against the cost of generating its trajectory (EXP training, docs/method.md §5).

    python bench/difftre_cost.py            # paper-size and default models (15-25 minutes on 2 cores)
    python bench/difftre_cost.py --quick    # shorter timing, fewer frames (several minutes)

One state point as the EXP trainer runs it (``tifusion.training.exp``): the 150-atom hcp
cell at the 323 K experimental box, NVT Langevin MD, per-frame Born stress and stiffness
(``frame_observables``) and the DiffTRe loss of (C11, C33, C44, C12, C13) and pressure,
differentiated by the chunked reweighting gradient of :mod:`tifusion.training.difftre`.
The model is randomly initialised (the cost does not depend on the parameter values); frames
are the lattice with thermal displacements. Measured, per model, in seconds:

- MD step: ``run_nvt`` at the configured dt (one jitted chunk of ``frame_interval`` steps per
  frame, graph rebuilt every step, at the MD rule's capacity: largest count + 20 % + 2), wall
  time per step after compilation;
- values per frame: the energy and the 11 hexagonal strain derivatives of every frame
  (``frame_quantities``, in chunks of ``chunk_frames`` frames): what the outputs need (a score);
- Jacobian per frame: the outputs (C11, C33, C44, C12, C13, P) and their Jacobian
  (:func:`tifusion.training.difftre.make_difftre`: one pass of strain derivatives of the parameter gradient
  per frame, accumulated into moments), divided by the number of frames; an update of either optimizer
  (Adam: dL/dO . J; Gauss-Newton) costs this;
- both on graphs with the frames' own capacity (:func:`tifusion.md.state.frames_capacity`, as
  the trainer) and, for comparison, with the MD run's capacity.

Each time is the fastest of the repeated calls (``--repeats``) after a compile call. It then
prints what these imply per DiffTRe update for the configured protocol of each model: the
paper's (config/paper.yaml: 0.5 fs, 80 ps with 70 ps sampled every 0.1 ps = 700 frames,
160,000 steps) for the paper-size model, and config/config.yaml's for the default model;
the target is a gradient under half the trajectory time. Prints the load average next to
the table: on a shared machine every number is an upper bound.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from tifusion import units  # noqa: E402
from tifusion.graph import image_range  # noqa: E402
from tifusion.md.nvt import run_nvt  # noqa: E402
from tifusion.md.state import default_capacity_for, frames_capacity, init_state, max_neighbor_count  # noqa: E402
from tifusion.potential import Potential  # noqa: E402
from tifusion.model.dimenet import make_dimenet, parameter_count  # noqa: E402
from tifusion.training.difftre import make_difftre  # noqa: E402
from tifusion.training.exp import (experimental_statepoints, frame_energy, frame_observables,  # noqa: E402
                                   frame_quantities, frame_quantities_and_gradients, statepoint_aux,
                                   statepoint_outputs)

ROOT = Path(__file__).resolve().parents[1]
TEMPERATURE = 323.0
THERMAL_RMS = 0.008  # nm per component


def load_config(name):
    with open(ROOT / "config" / name) as f:
        return yaml.safe_load(f)


def protocol(md):
    """(MD steps per trajectory incl. equilibration, production frames, steps per frame) of an exp_training.md."""
    dt = float(md["dt_ps"])
    steps = int(round(float(md["total_ps"]) / dt))
    interval = int(round(float(md["frame_interval_ps"]) / dt))
    frames = (steps - int(round(float(md["equilibration_ps"]) / dt))) // interval
    return steps, frames, interval


def fastest(fn, repeats):
    """(fastest wall seconds, fastest CPU seconds of this process, first-call seconds) of fn()."""
    t = time.perf_counter()
    jax.block_until_ready(fn())
    compile_s = time.perf_counter() - t
    wall = cpu = np.inf
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn())
        wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return wall, cpu, compile_s


def measure(label, config, n_frames, repeats):
    settings = config["exp_training"]
    md = settings["md"]
    potential = make_dimenet(config["model"])
    params = potential.init(jax.random.PRNGKey(0))
    point = experimental_statepoints([TEMPERATURE])[0]
    kT = units.kT(TEMPERATURE)
    run = dict(kT=kT, dt=float(md["dt_ps"]), friction=float(md["friction_per_ps"]))
    _, _, interval = protocol(md)
    # Frames: thermal displacements of the lattice (0.008 nm rms, Ti near 323 K) and Maxwell-Boltzmann
    # momenta.
    rng = np.random.default_rng(0)
    noise = THERMAL_RMS * rng.standard_normal((n_frames,) + point.positions.shape)
    positions = jnp.asarray(point.positions[None] + noise)
    capacity = default_capacity_for(max_neighbor_count(positions, point.box, potential.cutoff))
    n_images = image_range(point.box, potential.cutoff)
    kinetic_trace = jnp.asarray(rng.chisquare(3 * len(point.positions), n_frames) * kT)
    # MD step time: one frame's worth of steps per jitted chunk (as the trainer), after a compile call. A
    # randomly initialised model does not hold the crystal together (atoms fall onto each other and the
    # graph grows); MD runs the same model with its energy scaled by 1e-3 (same cost), so the cell stays
    # near the lattice at the frames' capacity.
    weak = Potential(potential.name + "_weak", potential.cutoff,
                     lambda p, d, g: 1e-3 * potential.atom_energies(p, d, g), potential.init)
    md_state = [init_state(jax.random.PRNGKey(1), point.positions, point.box, kT, weak, params, capacity=capacity)]

    def md_chunk():
        md_state[0], f = run_nvt(weak, params, md_state[0], interval, interval, **run)
        return f.positions

    md_chunk_s, md_chunk_cpu, md_compile_s = fastest(md_chunk, max(1, repeats // 2))
    print(f"[{label}] MD chunk of {interval} steps: {md_chunk_s:.1f} s", file=sys.stderr, flush=True)
    md_capacity = int(md_state[0].capacity)
    data = {"positions": positions, "kinetic_trace": kinetic_trace,
            "box": jnp.broadcast_to(jnp.asarray(point.box), (n_frames, 3, 3))}
    aux = statepoint_aux(point)
    chunk = int(settings.get("chunk_frames", 8))
    variants = {"frame capacity (trainer)": frames_capacity(positions, point.box, potential.cutoff),
                "MD capacity": capacity}
    rows = {}
    for name, frame_capacity in variants.items():
        evaluate = make_difftre(
            lambda p, f, k=frame_capacity: frame_quantities(potential, p, f, k, n_images),
            lambda p, f, k=frame_capacity: frame_quantities_and_gradients(potential, p, f, k, n_images),
            lambda p, f, k=frame_capacity: frame_energy(potential, p, f, k, n_images),
            frame_observables, statepoint_outputs, chunk_size=chunk)
        forward_s, forward_cpu, forward_compile_s = fastest(
            lambda: evaluate(params, data, None, kT, aux, with_jacobian=False).outputs, repeats)
        grad_s, grad_cpu, grad_compile_s = fastest(lambda: evaluate(params, data, None, kT, aux).jacobian, repeats)
        print(f"[{label}] {name} {frame_capacity}: values {forward_s:.1f} s, values and Jacobian {grad_s:.1f} s for "
              f"{n_frames} frames", file=sys.stderr, flush=True)
        rows[f"{name}: {frame_capacity}"] = {
            "born": forward_s / n_frames, "born_cpu": forward_cpu / n_frames, "gradient": grad_s / n_frames,
            "gradient_cpu": grad_cpu / n_frames, "compile": forward_compile_s + grad_compile_s}
    return {"label": label, "parameters": parameter_count(params), "chunk": chunk,
            "n_frames": n_frames, "md_step": md_chunk_s / interval, "md_step_cpu": md_chunk_cpu / interval,
            "md_compile": md_compile_s, "md_capacity": md_capacity, "interval": interval, "rows": rows,
            "protocol": protocol(md), "dt_fs": 1e3 * float(md["dt_ps"])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and repeats")
    parser.add_argument("--models", nargs="+", default=["paper", "default"], choices=["paper", "default"])
    parser.add_argument("--frames", type=int, help="frames per timed update (default: 2 chunks; 1 chunk if --quick)")
    parser.add_argument("--repeats", type=int, help="timed calls after the compile call (default 3; 1 if --quick)")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    configs = {"paper": ("paper-size model, config/paper.yaml protocol", load_config("paper.yaml")),
               "default": ("default model, config/config.yaml protocol", load_config("config.yaml"))}
    results = []
    for name in args.models:
        label, config = configs[name]
        chunk = int(config["exp_training"].get("chunk_frames", 8))
        n_frames = args.frames or (chunk if args.quick else 2 * chunk)
        results.append(measure(label, config, n_frames, repeats))

    print(f"# DiffTRe update vs trajectory, 150-atom hcp at {TEMPERATURE:.0f} K; jax {jax.__version__}, "
          f"{os.cpu_count()} cores, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end\n")
    for r in results:
        steps, frames, interval = r["protocol"]
        print(f"## {r['label']}: {r['parameters']} parameters, "
              f"{r['n_frames']} frames timed in chunks of {r['chunk']}\n")
        print(f"MD step {1e3 * r['md_step']:.1f} ms wall, {1e3 * r['md_step_cpu']:.1f} ms CPU (dt {r['dt_fs']:g} fs; "
              f"first chunk incl. compile {r['md_compile']:.0f} s; capacity at the end {r['md_capacity']}). "
              f"Protocol: {steps} MD steps and {frames} frames per trajectory "
              f"({steps / frames:.0f} steps per frame).\n")
        print("Per frame: wall s (CPU s). Per update: wall, from the per-frame wall times.\n")
        print("| graph capacity of the frames | values per frame | values + Jacobian per frame | Jacobian / values "
              "| MD per update s | Jacobian per update s | Jacobian / MD | target < 0.5 |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        md_total = steps * r["md_step"]
        for name, row in r["rows"].items():
            grad_total = frames * row["gradient"]
            print(f"| {name} | {row['born']:.3f} ({row['born_cpu']:.3f}) | {row['gradient']:.3f} "
                  f"({row['gradient_cpu']:.3f}) | "
                  f"{row['gradient'] / row['born']:.1f} | {md_total:.0f} | {grad_total:.0f} | "
                  f"{grad_total / md_total:.2f} | {'met' if grad_total < 0.5 * md_total else 'not met'} |")
        print()


if __name__ == "__main__":
    main()
