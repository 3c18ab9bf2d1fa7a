"""What config/paper.yaml costs per stage, projected from per-step costs measured on this machine's JAX device.

    python bench/paper_cost.py              # measure (a few minutes on 2 CPU cores) and project
    python bench/paper_cost.py --quick      # fewer repetitions

Measured with the paper-size DimeNet++ (randomly initialised: the cost does not depend on the values) on the
device JAX uses here (run it on a GPU node to project the GPU run):

- MD step: Langevin NVT of the 150-atom experimental hcp cell at 323 K, graph rebuilt every step;
- training configuration: value and parameter gradient of the DFT loss (energy, forces, virial) of one 256-atom
  configuration, gradient accumulation as the trainer does it;
- Born terms per frame: the full 3x3x3x3 Born stiffness of one 150-atom frame (the hcp_elastic runs);
- DiffTRe Jacobian per frame: the EXP trainer's outputs and Jacobian (tifusion.training.difftre.make_difftre).

Assumptions of the projection (printed with it): an MD step costs in proportion to the number of atoms (the
neighbour count per atom is that of hcp; NPT and Nose-Hoover steps cost what a Langevin step costs); one job at a
time on the device; no start-up and compilation (minutes per job); the DFT epochs of the fused models and the
validation passes cost what their configurations cost in training; phonopy needs one displaced supercell for hcp.
"""
import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import yaml

from tifusion import units
from tifusion.graph import build_graph, image_range
from tifusion.md.nvt import run_nvt
from tifusion.md.state import default_capacity_for, frames_capacity, init_state, max_neighbor_count
from tifusion.model.dimenet import make_dimenet
from tifusion.observables.elasticity import born_terms_batch
from tifusion.potential import Potential, energy_forces_virial
from tifusion.runtime import configure_jax
from tifusion.structures import hcp_supercell
from tifusion.training.difftre import make_difftre
from tifusion.training.exp import (experimental_statepoints, frame_energy, frame_observables, frame_quantities,
                                   frame_quantities_and_gradients, statepoint_aux, statepoint_outputs)
from tifusion.training.settings import merged

HCP_ATOMS = 150


def fastest(fn, repeats):
    jax.block_until_ready(fn())
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - started)
    return best


def measure(hyperparameters, repeats):
    """Seconds per MD step, per training configuration, per Born frame and per Jacobian frame."""
    potential = make_dimenet(hyperparameters)
    params = potential.init(jax.random.PRNGKey(0))
    point = experimental_statepoints([323.0])[0]
    kT = units.kT(323.0)
    # MD with the energy scaled by 1e-3 (same cost): a random model does not hold the crystal together
    weak = Potential(potential.name + "_weak", potential.cutoff,
                     lambda p, d, g: 1e-3 * potential.atom_energies(p, d, g), potential.init)
    state = [init_state(jax.random.PRNGKey(1), point.positions, point.box, kT, weak, params)]

    def md():
        state[0], frames = run_nvt(weak, params, state[0], 50, 50, kT=kT, dt=0.0005, friction=4.0)
        return frames.positions

    costs = {"md_step": fastest(md, repeats) / 50}
    rng = np.random.default_rng(0)
    frames = jnp.asarray(point.positions[None] + 0.008 * rng.standard_normal((8,) + point.positions.shape))
    capacity = frames_capacity(frames, point.box, potential.cutoff)
    n_images = image_range(point.box, potential.cutoff)
    costs["born_frame"] = fastest(lambda: born_terms_batch(potential, params, frames, jnp.asarray(point.box),
                                                           capacity, n_images, 8)[1], repeats) / len(frames)
    data = {"positions": frames, "box": jnp.broadcast_to(jnp.asarray(point.box), (len(frames), 3, 3)),
            "kinetic_trace": jnp.full(len(frames), 3 * HCP_ATOMS * kT)}
    evaluate = make_difftre(lambda p, f: frame_quantities(potential, p, f, capacity, n_images),
                            lambda p, f: frame_quantities_and_gradients(potential, p, f, capacity, n_images),
                            lambda p, f: frame_energy(potential, p, f, capacity, n_images),
                            frame_observables, statepoint_outputs, chunk_size=8)
    aux = statepoint_aux(point)
    costs["jacobian_frame"] = fastest(lambda: evaluate(params, data, None, kT, aux).jacobian, repeats) / len(frames)
    positions, box = hcp_supercell(0.2951, 0.4679, (4, 4, 8))  # 256 atoms, as the published configurations
    positions = jnp.asarray(positions + 0.01 * rng.standard_normal(positions.shape))
    box = jnp.asarray(box)
    train_capacity = default_capacity_for(max_neighbor_count(positions, box, potential.cutoff))
    images = image_range(np.asarray(box), potential.cutoff)

    @jax.jit
    def loss_grad(p):
        def loss(q):
            graph = build_graph(positions, box, potential.cutoff, train_capacity, images)
            e, f, w = energy_forces_virial(potential, q, positions, box, graph)
            return 1e-6 * e**2 + 1e-2 * jnp.mean(f**2) + 4e-6 * jnp.mean(w**2)
        return jax.grad(loss)(p)

    costs["train_configuration"] = fastest(lambda: loss_grad(params), repeats)
    return costs


def project(config, costs):
    """[(stage, what, seconds of one job, jobs)] of a merged paper configuration."""
    rows = []
    n_train = int(0.7 * 5704)
    pre = config["dft_pretraining"]
    rows.append(("DFT pre-training", f"{pre['epochs']} epochs x {n_train} configurations (+ validation)",
                 pre["epochs"] * n_train * 1.15 * costs["train_configuration"], 1))
    md = config["exp_training"]["md"]
    steps = md["total_ps"] / md["dt_ps"]
    frames = (md["total_ps"] - md["equilibration_ps"]) / md["frame_interval_ps"]
    update = steps * costs["md_step"] + frames * costs["jacobian_frame"]
    for name, entry in config["models"].items():
        if "schedule" not in entry:
            continue
        seconds = entry["epochs"] * len(entry["temperatures_K"]) * update
        what = f"{entry['epochs']} epochs x {len(entry['temperatures_K'])} updates of {steps:.0f} steps + {frames:.0f} frames"
        if "dft" in entry["schedule"]:
            seconds += entry["epochs"] * n_train * costs["train_configuration"]
            what += f"; {entry['epochs']} DFT epochs"
        rows.append((f"training {name}", what, seconds, 1))
    properties = config["properties"]
    dt = properties["md"]["dt_ps"]

    def md_seconds(picoseconds, atoms=HCP_ATOMS):
        return picoseconds / dt * costs["md_step"] * atoms / HCP_ATOMS

    hcp = properties["hcp_elastic"]
    hcp_frames = hcp["production_ps"] / hcp["frame_interval_ps"]
    per_model = {
        "hcp_elastic": len(hcp["temperatures_K"]) * (md_seconds(hcp["equilibration_ps"] + hcp["production_ps"])
                                                     + hcp_frames * costs["born_frame"]),
        "lattice_temperature": len(properties["lattice_temperature"]["temperatures_K"]) * md_seconds(
            properties["lattice_temperature"]["equilibration_ps"] + properties["lattice_temperature"]["production_ps"]),
        "lattice_pressure": len(properties["lattice_pressure"]["pressures_GPa"]) * md_seconds(
            properties["lattice_pressure"]["equilibration_ps"] + properties["lattice_pressure"]["production_ps"]),
    }
    bcc = properties["bcc_elastic"]
    bcc_atoms = 2 * int(np.prod(bcc["repeat"]))
    per_model["bcc_elastic"] = md_seconds(bcc["npt_ps"] + bcc["equilibration_ps"] + bcc["production_ps"], bcc_atoms) \
        + bcc["production_ps"] / bcc["frame_interval_ps"] * costs["born_frame"] * bcc_atoms / HCP_ATOMS
    liquid, diffusion = properties["liquid"], properties["diffusion"]
    liquid_atoms = 4 * int(np.prod(liquid["start"]["repeat"]))
    per_model["liquid_melt + liquid_structure"] = md_seconds(
        liquid["melt_ps"] + liquid["npt_ps"] + liquid["production_ps"], liquid_atoms)
    per_model["self_diffusion"] = len(diffusion["temperatures_K"]) * md_seconds(
        diffusion["npt_ps"] + diffusion["equilibration_ps"] + diffusion["production_ps"], liquid_atoms)
    models = [name for name in config["models"] if name in config["figures"]["fig3"]["models"]
              or name in config["figures"]["fig7"]["models"]]
    for name, seconds in per_model.items():
        rows.append((name, "MD" + (" + Born terms" if "elastic" in name else ""), seconds, len(models)))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one timed repetition")
    args = parser.parse_args()
    configure_jax(cache_dir="")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    with open(os.path.join(root, "config/config.yaml")) as base, open(os.path.join(root, "config/paper.yaml")) as over:
        config = merged(yaml.safe_load(base), yaml.safe_load(over))
    model = dict(config["model"])
    costs = measure(model, 1 if args.quick else 3)
    print(f"# config/paper.yaml projected on {jax.default_backend()} ({jax.devices()[0].device_kind}), "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}\n")
    print(f"Measured: MD step {1e3 * costs['md_step']:.0f} ms (150 atoms), training configuration "
          f"{1e3 * costs['train_configuration']:.0f} ms (256 atoms), Born terms {1e3 * costs['born_frame']:.0f} ms "
          f"and DiffTRe Jacobian {1e3 * costs['jacobian_frame']:.0f} ms per 150-atom frame.\n")
    print("| stage | what | hours per job on this device | jobs |")
    print("|---|---|---:|---:|")
    total = 0.0
    for stage, what, seconds, jobs in project(config, costs):
        print(f"| {stage} | {what} | {seconds / 3600:.1f} | {jobs} |")
        total += seconds * jobs
    print(f"\nAll stages, one job at a time: {total / 3600:.0f} hours ({total / 3600 / 24 / 365:.2f} years); the "
          "properties of each model, the models and the temperatures are independent jobs that run side by side on "
          "a cluster. Assumptions: see `python bench/paper_cost.py --help`.")


if __name__ == "__main__":
    main()
