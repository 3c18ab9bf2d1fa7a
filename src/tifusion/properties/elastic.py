"""Isothermal elastic constants and pressure by NVT stress fluctuations (docs/method.md §§5, 7).

- :func:`hcp_elastic`: hcp at each temperature of the protocol, in the authors' 150-atom 5x5x3
  box at the experimental a(T), c(T) (as in training); Langevin NVT equilibration, then
  production with a frame every ``frame_interval_ps``. Per frame: Born stress and stiffness
  (:func:`tifusion.observables.elasticity.born_terms_batch`), pressure with its kinetic part.
  C from the stress-fluctuation formula at the target kT and the fixed volume; C11, C33, C44,
  C12, C13 read out as in the paper, Voigt K, G, nu from them.
- :func:`bcc_elastic`: a bcc cubic cell (128 atoms in the paper) NPT-equilibrated at 1273 K,
  then NVT in the NPT mean box; cubic C11, C12, C44 and Voigt K, G, nu of the full tensor.

Errors: delete-one-block jackknife standard errors over ``n_blocks`` contiguous blocks (the
stress-fluctuation formula is evaluated on all frames but one block,
:func:`tifusion.observables.statistics.block_estimate`; checked against the scatter of independent
windows of one long run by ``bench/elastic_errors.py``).
Results are in internal units (kJ/mol/nm^3; nu dimensionless).
"""
import logging
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from tifusion.data.experiment import experimental_cell
from tifusion.graph import image_range
from tifusion.md.state import frames_capacity, kinetic_temperature
from tifusion.md.steps import frame_steps, stage_steps
from tifusion.observables.elasticity import (HEXAGONAL_CONSTANTS, born_terms_batch, cubic_constants,
                                             hexagonal_constants, pressure, stress_fluctuation,
                                             stress_fluctuation_per_frame, voigt_moduli, voigt_moduli_of_tensor)
from tifusion.observables.statistics import block_average, block_estimate, integrated_autocorrelation_time
from tifusion.properties.simulation import (Checkpoint, Stage, fingerprint, initial_state, mean_box, npt_settings,
                                            nvt_settings, restart_in_box, run_property, run_stages, segment_steps,
                                            stack_results, state_key, warn_unresolved)
from tifusion.structures import bcc_cubic
from tifusion.units import GPA, kT

log = logging.getLogger(__name__)

CUBIC_CONSTANTS = ("C11", "C12", "C44")
MODULI = ("K", "G", "nu")


def born_terms_of_frames(potential, params, positions, box, batch_size=8):
    """(sigma_B [F, 3, 3], C_B [F, 3, 3, 3, 3]) of frames [F, N, 3] in one fixed ``box``.

    Each frame gets its own graph, with the slots every frame needs (:func:`frames_capacity`):
    never truncated, and no padding the frames do not use.
    """
    positions = jnp.asarray(positions)
    box = jnp.asarray(box, dtype=positions.dtype)
    n_images = image_range(np.asarray(box), potential.cutoff)
    capacity = frames_capacity(positions, box, potential.cutoff)
    sigma, born, lost = born_terms_batch(potential, params, positions, box, capacity, n_images, batch_size)
    if bool(jnp.any(lost)):
        raise RuntimeError(f"Born terms: {int(jnp.sum(lost))} frames have more neighbours than the {capacity} slots "
                           "counted for them (a bug: the count and the graphs disagree)")
    return np.asarray(sigma), np.asarray(born)


def stress_fluctuation_frames(potential, params, box, batch_size=8):
    """``Stage.keep`` of a production run: Born terms, pressure and kinetic temperature per frame."""
    volume = abs(float(np.linalg.det(np.asarray(box))))

    def keep(frames):
        sigma, born = born_terms_of_frames(potential, params, frames.positions, box, batch_size)
        n_atoms = frames.positions.shape[1]
        return {"sigma": sigma, "born": born, "pressure": pressure(frames.virial, frames.kinetic, volume),
                "temperature": kinetic_temperature(frames.kinetic, n_atoms)}

    return keep


def hexagonal_readout(c):
    """C11, C33, C44, C12, C13 (paper's averaging, c axis along z) and Voigt K, G, nu of a tensor."""
    constants = dict(zip(HEXAGONAL_CONSTANTS, hexagonal_constants(c)))
    moduli = voigt_moduli(constants["C11"], constants["C12"], constants["C13"], constants["C33"], constants["C44"])
    return {**constants, **dict(zip(MODULI, moduli)), "tensor": c}


def cubic_readout(c):
    """C11, C12, C44 (cube axes along x, y, z) and the Voigt K, G, nu of the full tensor."""
    return {**dict(zip(CUBIC_CONSTANTS, cubic_constants(c))), **dict(zip(MODULI, voigt_moduli_of_tensor(c))),
            "tensor": c}


def linearized_series(kept, volume, temperature_K, n_atoms, readout):
    """{name: [n_frames]} per-frame terms of each scalar readout quantity whose mean is its estimate (to first order).

    The readout linearized at the estimate, applied to :func:`stress_fluctuation_per_frame`: the delta method,
    so the series' autocorrelation time is that of the estimate's statistical error (K, G, nu included).
    """
    sigma, born = jnp.asarray(kept["sigma"]), jnp.asarray(kept["born"])
    per_frame = stress_fluctuation_per_frame(sigma, born, volume, kT(temperature_K), n_atoms)
    mean = per_frame.mean(axis=0)

    def scalars(c):
        return {name: value for name, value in readout(c).items() if jnp.ndim(value) == 0}

    estimate, linear = jax.linearize(scalars, mean)
    deviations = jax.vmap(linear)(per_frame - mean)
    return {name: np.asarray(estimate[name] + deviations[name]) for name in estimate}


def fluctuation_estimates(kept, volume, temperature_K, n_atoms, readout, n_blocks, frame_interval_ps):
    """Elastic constants with jackknife block errors, mean pressure and temperature of a production run.

    Returns a flat dict: each readout quantity and ``<name>_err``, ``pressure(_err)``,
    ``temperature(_err)`` (kinetic, K) and ``n_frames``; for each scalar readout quantity and the pressure
    also ``<name>_tau_ps``, the integrated autocorrelation time of its :func:`linearized_series`, and
    ``<name>_resolved``: False when the run is shorter than 50 of them (then the error is a lower bound).
    """
    target_kT = kT(temperature_K)

    def estimator(sigma, born):
        return readout(stress_fluctuation(jnp.asarray(sigma), jnp.asarray(born), None, volume, target_kT, n_atoms))

    estimate, error = block_estimate(estimator, kept["sigma"], kept["born"], n_blocks=n_blocks)
    result = {}
    for name in estimate:
        result[name], result[f"{name}_err"] = np.asarray(estimate[name]), np.asarray(error[name])
    for name in ("pressure", "temperature"):
        result[name], result[f"{name}_err"] = block_average(kept[name], n_blocks)
    series = {**linearized_series(kept, volume, temperature_K, n_atoms, readout), "pressure": kept["pressure"]}
    for name, values in series.items():
        tau, result[f"{name}_resolved"] = integrated_autocorrelation_time(values)
        result[f"{name}_tau_ps"] = tau * frame_interval_ps
    result["n_frames"] = len(kept["pressure"])
    return result


def nvt_stress_frames(potential, params, state, temperature_K, protocol, checkpoint=None, label=""):
    """NVT equilibration and production in ``state``'s box: (production frames, final MD state).

    The frames are :func:`stress_fluctuation_frames`' per-frame Born terms, pressure and temperature.
    ``protocol``: dt_ps, equilibration_ps, production_ps, frame_interval_ps, thermostat,
    friction_per_ps, nose_hoover_tau_ps, skin_nm, checkpoint_ps (see config/README.md).
    """
    n_production, interval = frame_steps(protocol, "production_ps")
    md = nvt_settings(protocol, temperature_K)
    stages = [
        Stage("nvt_equilibration", "nvt", stage_steps(protocol, "equilibration_ps", interval), interval, md),
        Stage("nvt_production", "nvt", n_production, interval, md,
              stress_fluctuation_frames(potential, params, np.asarray(state.box))),
    ]
    state, kept = run_stages(potential, params, state, stages, checkpoint, segment_steps(protocol), label)
    return kept["nvt_production"], state


def nvt_elastic(potential, params, state, temperature_K, protocol, readout, checkpoint=None, label=""):
    """:func:`nvt_stress_frames` and the :func:`fluctuation_estimates` of its frames (``protocol["n_blocks"]``).

    Returns (estimates, final MD state).
    """
    frames, state = nvt_stress_frames(potential, params, state, temperature_K, protocol, checkpoint, label)
    volume = abs(float(np.linalg.det(np.asarray(state.box))))
    result = fluctuation_estimates(frames, volume, temperature_K, state.positions.shape[0], readout,
                                   protocol["n_blocks"], protocol["frame_interval_ps"])
    result["volume"] = volume
    warn_unresolved(result, [name[:-len("_resolved")] for name in result if name.endswith("_resolved")], label,
                    protocol["production_ps"])
    return result, state


def _checkpoint(checkpoint_dir, name, digest):
    return Checkpoint(None if checkpoint_dir is None else Path(checkpoint_dir) / name, digest)


def hcp_elastic_at(potential, params, positions, box, temperature_K, protocol, key, checkpoint=None, label="",
                   capacity=0):
    """hcp elastic constants, moduli and pressure at one temperature in a fixed box (c axis along z).

    Returns (estimates, final MD state); ``capacity``: at least this many neighbour slots.
    """
    state = initial_state(key, positions, box, temperature_K, potential, params, capacity)
    return nvt_elastic(potential, params, state, temperature_K, protocol, hexagonal_readout, checkpoint, label)


def hcp_elastic(potential, params, protocol, seed, checkpoint_dir=None):
    """hcp C11, C33, C44, C12, C13, K, G, nu and pressure at ``protocol["temperatures_K"]``.

    Each temperature runs in the experimental 5x5x3 box of that temperature (a row of the
    experimental table). Arrays have a leading temperature axis; ``temperature_K`` holds the targets.
    """
    results, capacity = [], 0
    for temperature in protocol["temperatures_K"]:
        positions, box = experimental_cell(temperature)
        digest = fingerprint(potential, params, protocol=protocol, seed=seed, temperature=temperature)
        label, name = f"hcp elastic {temperature:g} K", f"T{temperature:g}K"
        result, state = hcp_elastic_at(potential, params, positions, box, temperature, protocol,
                                       state_key(seed, "hcp_elastic", name),
                                       _checkpoint(checkpoint_dir, name, digest), label, capacity)
        results.append(result)
        capacity = int(state.capacity)
        log.info("%s: C11 %.1f C33 %.1f C44 %.1f C12 %.1f C13 %.1f GPa, P %.2f GPa", label,
                 *(float(result[name]) / GPA for name in HEXAGONAL_CONSTANTS), float(result["pressure"]) / GPA)
    return {"temperature_K": np.asarray(protocol["temperatures_K"], dtype=float), **stack_results(results)}


def bcc_elastic(potential, params, protocol, seed, checkpoint_dir=None):
    """bcc C11, C12, C44, K, G, nu and pressure at ``temperature_K`` (Table 2 of the paper).

    A bcc cubic cell (``a_nm``, ``repeat``) is equilibrated by NPT (``npt_ps``, ``coupling``) at
    zero pressure; the NVT runs use the mean box of the second half of the NPT run. Also
    returns the NPT lattice constant ``a`` (nm) and its block error.
    """
    temperature = float(protocol["temperature_K"])
    repeat = tuple(protocol["repeat"])
    positions, box = bcc_cubic(protocol["a_nm"], repeat)
    _, interval = frame_steps(protocol, "production_ps")
    digest = fingerprint(potential, params, protocol=protocol, seed=seed)
    state = initial_state(state_key(seed, "bcc_elastic"), positions, box, temperature, potential, params)
    npt = Stage("npt", "npt", stage_steps(protocol, "npt_ps", interval), interval, npt_settings(protocol, temperature),
                lambda frames: {"box": frames.box})
    state, kept = run_stages(potential, params, state, [npt], _checkpoint(checkpoint_dir, "npt", digest),
                             segment_steps(protocol), f"bcc {temperature:g} K")
    boxes = kept["npt"]["box"]
    nvt_box = mean_box(boxes)
    second_half = boxes[len(boxes) - max(1, len(boxes) // 2):]
    cell_edge = np.cbrt(np.abs(np.linalg.det(second_half))) / np.cbrt(np.prod(repeat))
    state = restart_in_box(state_key(seed, "bcc_elastic", 1), state, nvt_box, temperature, potential, params)
    result, _ = nvt_elastic(potential, params, state, temperature, protocol, cubic_readout,
                            _checkpoint(checkpoint_dir, "nvt", digest), f"bcc {temperature:g} K")
    result["a"], result["a_err"] = block_average(cell_edge, min(protocol["n_blocks"], len(cell_edge)))
    result["temperature_K"] = temperature
    log.info("bcc %g K: a %.4f nm, C11 %.1f C12 %.1f C44 %.1f GPa, P %.2f GPa", temperature, float(result["a"]),
             *(float(result[name]) / GPA for name in CUBIC_CONSTANTS), float(result["pressure"]) / GPA)
    return result


def run_hcp_elastic(model_path, protocol, output_path, seed, checkpoint_dir=None):
    """The ``hcp_elastic`` rule: one model, ``results/properties/{model}/hcp_elastic.npz``."""
    return run_property(hcp_elastic, model_path, protocol, output_path, seed, checkpoint_dir)


def run_bcc_elastic(model_path, protocol, output_path, seed, checkpoint_dir=None):
    """The ``bcc_elastic`` rule: one model, ``results/properties/{model}/bcc_elastic.npz``."""
    return run_property(bcc_elastic, model_path, protocol, output_path, seed, checkpoint_dir)
