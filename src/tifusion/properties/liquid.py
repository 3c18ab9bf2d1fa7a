"""Liquid titanium: melting, radial and angular distributions, self-diffusion (docs/method.md §7).

- :func:`melt`: a crystal (``start``: structure, a_nm, repeat) heated by NPT at ``melt_temperature_K``
  (2400 K in the paper) at zero pressure; the final MD state is the start of both liquid properties.
- :func:`liquid_structure`: NPT at ``temperature_K`` (1965 K), then NVT in the NPT mean box
  (Nose-Hoover, frames every ``frame_interval_ps``): g(r) and the bond-angle distribution of
  triplets within ``adf.r_max_nm`` (0.4 nm, the first minimum of the experimental g(r)).
- :func:`self_diffusion`: at each temperature, NPT, NVT equilibration, NVT production with a
  frame every ``frame_interval_ps`` (0.01 ps); D by Green-Kubo from the velocity autocorrelation
  averaged over ``n_origins`` time origins ``origin_spacing_ps`` apart, integrated to
  ``max_lag_ps`` (:func:`tifusion.observables.dynamics.green_kubo_diffusion`). The Einstein
  estimate from the mean squared displacement of the same frames and origins is returned as
  an independent check (``D_einstein``).

The NPT stages use isotropic cell rescaling (a liquid keeps its cell shape). Internal units:
nm, ps, D in nm^2/ps (1 nm^2/ps = 1e-6 m^2/s).
"""
import hashlib
import logging
from functools import partial
from pathlib import Path

import numpy as np

from tifusion.md.state import load_state, save_state
from tifusion.md.steps import frame_steps, stage_steps
from tifusion.observables.dynamics import green_kubo_diffusion
from tifusion.observables.structure import angular_distribution, radial_distribution
from tifusion.properties.simulation import (Checkpoint, Stage, clear_checkpoints, fingerprint, initial_state,
                                            load_potential, mean_box, npt_settings, nvt_settings, restart_in_box,
                                            run_property, run_stages, segment_steps, stack_results, state_key)
from tifusion.structures import bcc_cubic, fcc_cubic, hcp_supercell
from tifusion.units import KB, MASS_TI

log = logging.getLogger(__name__)

BUILDERS = {"fcc": fcc_cubic, "bcc": bcc_cubic}


def initial_crystal(start):
    """(positions, box) of the crystal that is melted: ``start`` = {structure, a_nm, repeat} (hcp: also c_nm)."""
    structure, repeat = start["structure"], tuple(start["repeat"])
    if structure == "hcp":
        return hcp_supercell(start["a_nm"], start["c_nm"], repeat)
    if structure not in BUILDERS:
        raise ValueError(f"liquid start.structure must be one of fcc, bcc, hcp, got {structure!r}")
    return BUILDERS[structure](start["a_nm"], repeat)


def _checkpoint(checkpoint_dir, name, digest):
    return Checkpoint(None if checkpoint_dir is None else Path(checkpoint_dir) / name, digest)


def _state_digest(state):
    return hashlib.sha256(np.ascontiguousarray(np.asarray(state.positions)).tobytes()).hexdigest()


def melt(potential, params, protocol, seed, checkpoint_dir=None):
    """The melted MD state: NPT at ``melt_temperature_K`` for ``melt_ps`` from the ``start`` crystal."""
    temperature = float(protocol["melt_temperature_K"])
    positions, box = initial_crystal(protocol["start"])
    _, interval = frame_steps(protocol, "production_ps")
    stage = Stage("melt", "npt", stage_steps(protocol, "melt_ps", interval), interval,
                  npt_settings(protocol, temperature))
    state = initial_state(state_key(seed, "liquid_melt"), positions, box, temperature, potential, params)
    digest = fingerprint(potential, params, protocol=protocol, seed=seed)
    state, _ = run_stages(potential, params, state, [stage], _checkpoint(checkpoint_dir, "melt", digest),
                          segment_steps(protocol), f"melt {temperature:g} K")
    return state


def equilibrated_liquid(potential, params, melt_state, temperature_K, protocol, key, checkpoint, label):
    """NPT at ``temperature_K`` from the melt, then a fresh state in the NPT mean box (for NVT)."""
    _, interval = frame_steps(protocol, "production_ps")
    stage = Stage("npt", "npt", stage_steps(protocol, "npt_ps", interval), interval,
                  npt_settings(protocol, temperature_K), lambda frames: {"box": frames.box})
    state, kept = run_stages(potential, params, melt_state, [stage], checkpoint, segment_steps(protocol), label)
    return restart_in_box(key, state, mean_box(kept["npt"]["box"]), temperature_K, potential, params)


def liquid_structure(potential, params, protocol, seed, checkpoint_dir=None, *, melt_state):
    """g(r) and ADF at ``temperature_K`` (NVT production after NPT), with the density and temperature."""
    temperature = float(protocol["temperature_K"])
    label = f"liquid {temperature:g} K"
    digest = fingerprint(potential, params, protocol=protocol, seed=seed, melt=_state_digest(melt_state))
    state = equilibrated_liquid(potential, params, melt_state, temperature, protocol,
                                state_key(seed, "liquid_structure"), _checkpoint(checkpoint_dir, "npt", digest), label)
    n_production, interval = frame_steps(protocol, "production_ps")
    production = Stage("nvt_production", "nvt", n_production, interval, nvt_settings(protocol, temperature),
                       lambda frames: {"positions": np.asarray(frames.positions, np.float32),
                                       "kinetic_trace": np.trace(np.asarray(frames.kinetic), axis1=1, axis2=2)})
    _, kept = run_stages(potential, params, state, [production], _checkpoint(checkpoint_dir, "nvt", digest),
                         segment_steps(protocol), label)
    frames = kept["nvt_production"]
    box = np.asarray(state.box)
    rdf = radial_distribution(frames["positions"], box, protocol["rdf"]["r_max_nm"], protocol["rdf"]["n_bins"])
    adf = angular_distribution(frames["positions"], box, protocol["adf"]["r_max_nm"], protocol["adf"]["n_bins"])
    n_atoms = frames["positions"].shape[1]
    measured = frames["kinetic_trace"] / (3 * n_atoms * KB)
    log.info("%s: density %.2f atoms/nm^3, first g(r) peak %.3f nm, kinetic T %.0f K", label, rdf.density,
             rdf.r[np.argmax(rdf.g)], measured.mean())
    return {"temperature_K": temperature, "r": rdf.r, "g": rdf.g, "r_edges": rdf.edges, "density": rdf.density,
            "theta": adf.theta, "adf": adf.p, "theta_edges": adf.edges, "adf_r_max": protocol["adf"]["r_max_nm"],
            "triplets_per_frame": adf.triplets_per_frame, "temperature_measured": measured.mean(),
            "n_atoms": n_atoms, "n_frames": len(measured)}


def mean_squared_displacement(positions, origins, n_lags):
    """MSD(t) [n_lags] of unwrapped positions [F, N, 3] averaged over atoms and the origin frames."""
    positions = np.asarray(positions, dtype=np.float64)
    total = np.zeros(n_lags)
    for origin in origins:
        window = positions[origin:origin + n_lags] - positions[origin]
        total += np.mean(np.sum(window**2, axis=-1), axis=1)
    return total / len(origins)


def einstein_diffusion(positions, timestep, max_lag, n_origins, origin_spacing):
    """D = slope / 6 of the MSD between max_lag / 2 and max_lag (least squares), nm^2/ps."""
    lags = int(round(max_lag / timestep)) + 1
    spacing = int(round(origin_spacing / timestep))
    msd = mean_squared_displacement(positions, np.arange(n_origins) * spacing, lags)
    time = np.arange(lags) * timestep
    fit = slice(lags // 2, lags)
    return np.polyfit(time[fit], msd[fit], 1)[0] / 6, time, msd


def diffusion_at(potential, params, melt_state, temperature_K, protocol, key, checkpoint_dir=None, digest=None):
    """D (Green-Kubo, with block error), the VACF and the Einstein check at one temperature."""
    label = f"diffusion {temperature_K:g} K"
    state = equilibrated_liquid(potential, params, melt_state, temperature_K, protocol, key,
                                _checkpoint(checkpoint_dir, "npt", digest), label)
    n_production, interval = frame_steps(protocol, "production_ps")
    md = nvt_settings(protocol, temperature_K)
    stages = [Stage("nvt_equilibration", "nvt", stage_steps(protocol, "equilibration_ps", interval), interval, md),
              Stage("nvt_production", "nvt", n_production, interval, md,
                    lambda frames: {"velocities": np.asarray(frames.momenta / MASS_TI, np.float32),
                                    "positions": np.asarray(frames.positions, np.float32)})]
    _, kept = run_stages(potential, params, state, stages, _checkpoint(checkpoint_dir, "nvt", digest),
                         segment_steps(protocol), label)
    frames = kept["nvt_production"]
    timestep = protocol["dt_ps"] * interval
    diffusion = green_kubo_diffusion(frames["velocities"], timestep, protocol["max_lag_ps"], protocol["n_origins"],
                                     protocol["origin_spacing_ps"], protocol["n_blocks"])
    d_einstein, _, _ = einstein_diffusion(frames["positions"], timestep, protocol["max_lag_ps"],
                                          protocol["n_origins"], protocol["origin_spacing_ps"])
    log.info("%s: D %.4g +- %.2g nm^2/ps (Green-Kubo), %.4g (Einstein)", label, diffusion.D, diffusion.error,
             d_einstein)
    return {"D": diffusion.D, "D_err": diffusion.error, "D_einstein": d_einstein, "vacf_time": diffusion.vacf.time,
            "vacf": diffusion.vacf.vacf, "vacf_err": diffusion.vacf.error,
            "density": len(melt_state.positions) / abs(np.linalg.det(np.asarray(state.box)))}


def self_diffusion(potential, params, protocol, seed, checkpoint_dir=None, *, melt_state):
    """D(T) at ``temperatures_K`` (leading axis), each from the same melt."""
    results = []
    for temperature in protocol["temperatures_K"]:
        name = f"T{temperature:g}K"
        directory = None if checkpoint_dir is None else Path(checkpoint_dir) / name
        digest = fingerprint(potential, params, protocol=protocol, seed=seed, melt=_state_digest(melt_state),
                             temperature=temperature)
        results.append(diffusion_at(potential, params, melt_state, float(temperature), protocol,
                                    state_key(seed, "self_diffusion", name), directory, digest))
    return {"temperature_K": np.asarray(protocol["temperatures_K"], dtype=float), **stack_results(results)}


def run_melt(model_path, protocol, output_path, seed, checkpoint_dir=None):
    """The ``liquid_melt`` rule: the melted MD state of one model (an MD state file)."""
    from tifusion.io import provenance

    potential, params, metadata = load_potential(model_path)
    state = melt(potential, params, protocol, seed, checkpoint_dir)
    save_state(output_path, state, provenance(protocol, seed, potential=potential.name, model=str(model_path),
                                              model_metadata=metadata))
    clear_checkpoints(checkpoint_dir)
    return state


def run_liquid_structure(model_path, melt_path, protocol, output_path, seed, checkpoint_dir=None):
    """The ``liquid_structure`` rule: ``results/properties/{model}/liquid_structure.npz``."""
    compute = partial(liquid_structure, melt_state=load_state(melt_path))
    return run_property(compute, model_path, protocol, output_path, seed, checkpoint_dir, melt=str(melt_path))


def run_self_diffusion(model_path, melt_path, protocol, output_path, seed, checkpoint_dir=None):
    """The ``self_diffusion`` rule: ``results/properties/{model}/self_diffusion.npz``."""
    compute = partial(self_diffusion, melt_state=load_state(melt_path))
    return run_property(compute, model_path, protocol, output_path, seed, checkpoint_dir, melt=str(melt_path))
