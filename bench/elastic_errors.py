"""Are the elastic constants' error bars of a short NVT stress-fluctuation run honest?

    python bench/elastic_errors.py            # 20 windows of the config's production (default: 180 ps, ~18 min)
    python bench/elastic_errors.py --quick    # 4 windows (36 ps, ~4 min)

Runs one long NVT production (the config's ``properties.hcp_elastic`` protocol, the pre-trained
default model in the experimental 150-atom box of one temperature), then cuts it into windows as
long as the config's own production run. For C11, C33, C44, C12, C13, K, G and the pressure it
prints the whole run's estimate, error and integrated autocorrelation time tau (of the quantity's
:func:`tifusion.properties.elastic.linearized_series`; resolved when the run is 50 tau long), and
over the windows the error each window reports (rms; delete-one-block jackknife over the config's
``n_blocks``, :func:`tifusion.properties.elastic.fluctuation_estimates`), the delta-method error
sqrt(var tau / n) of the same series, the scatter (standard deviation) of the window estimates,
and the mean window estimate minus the whole run's (the bias of a short window: its stress
fluctuations are underestimated, so its constants come out high). A ratio scatter / reported well
above 1 means the short runs' error bars are too small.
"""
import argparse
from pathlib import Path

import numpy as np
import yaml

from tifusion.data.experiment import experimental_cell
from tifusion.model.io import load_model
from tifusion.observables.elasticity import HEXAGONAL_CONSTANTS
from tifusion.observables.statistics import correlated_average
from tifusion.properties import property_protocol
from tifusion.properties.elastic import (fluctuation_estimates, hexagonal_readout, linearized_series,
                                         nvt_stress_frames)
from tifusion.properties.simulation import initial_state, state_key
from tifusion.units import GPA


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="results/default/models/dft_pretrained/model.npz")
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--temperature", type=float, default=323.0, help="K, a row of the experimental table")
    parser.add_argument("--windows", type=int, default=20, help="production = windows x window")
    parser.add_argument("--window-ps", type=float, default=None, help="default: the config's production_ps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="4 windows")
    parser.add_argument("--frames", type=Path, default=None,
                        help="an .npz of the production frames: read if it exists (no MD), else written after the run")
    args = parser.parse_args()

    with open(args.config) as handle:
        config = yaml.safe_load(handle)
    protocol = property_protocol(config["properties"], "hcp_elastic")
    window_ps = args.window_ps or float(protocol["production_ps"])
    production_ps = (4 if args.quick else args.windows) * window_ps
    protocol["production_ps"] = production_ps
    potential, params, _, _ = load_model(args.model)
    positions, box = experimental_cell(args.temperature)
    if args.frames is not None and args.frames.exists():
        with np.load(args.frames) as stored:
            frames = dict(stored)
    else:
        state = initial_state(state_key(args.seed, "elastic_errors"), positions, box, args.temperature, potential,
                              params)
        frames, _ = nvt_stress_frames(potential, params, state, args.temperature, protocol,
                                      label=f"elastic errors {args.temperature:g} K")
        if args.frames is not None:
            np.savez(args.frames, **frames)

    volume = abs(float(np.linalg.det(np.asarray(box))))
    n_atoms, n_blocks = positions.shape[0], protocol["n_blocks"]
    window = int(round(window_ps / protocol["frame_interval_ps"]))
    n_windows = len(frames["pressure"]) // window
    if n_windows < 2:
        raise SystemExit(f"{production_ps} ps of frames hold fewer than two {window_ps}-ps windows")

    def part(k=None):
        frames_part = slice(None) if k is None else slice(k * window, (k + 1) * window)
        kept = {name: series[frames_part] for name, series in frames.items()}
        series = {**linearized_series(kept, volume, args.temperature, n_atoms, hexagonal_readout),
                  "pressure": kept["pressure"]}
        delta_errors = {name: correlated_average(values)[1] for name, values in series.items()}
        return (fluctuation_estimates(kept, volume, args.temperature, n_atoms, hexagonal_readout, n_blocks,
                                      protocol["frame_interval_ps"]), delta_errors)

    whole, _ = part()
    windows = [part(k) for k in range(n_windows)]
    print(f"\n{args.model}, {args.temperature:g} K, {production_ps:g} ps of NVT production after "
          f"{protocol['equilibration_ps']:g} ps, a frame every {protocol['frame_interval_ps']:g} ps; "
          f"{n_windows} windows of {window_ps:g} ps ({window} frames, {n_blocks} blocks)\n")
    print("| GPa | whole run: estimate ± error | tau (ps) | resolved | windows: jackknife error (rms) | "
          "delta-method error (rms) | scatter of window estimates | scatter / jackknife | windows resolved | "
          "mean window - whole run |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|")

    def rms(values):
        return np.sqrt(np.mean(np.square(values))) / GPA

    for name in (*HEXAGONAL_CONSTANTS, "K", "G", "pressure"):
        values = np.array([w[name] for w, _ in windows]) / GPA
        jackknife = rms([w[f"{name}_err"] for w, _ in windows])
        delta = rms([d[name] for _, d in windows])
        scatter = np.std(values, ddof=1)
        resolved = sum(bool(w[f"{name}_resolved"]) for w, _ in windows)
        print(f"| {name} | {whole[name] / GPA:.1f} ± {whole[f'{name}_err'] / GPA:.1f} | "
              f"{float(whole[f'{name}_tau_ps']):.2f} | {bool(whole[f'{name}_resolved'])} | {jackknife:.2f} | "
              f"{delta:.2f} | {scatter:.2f} | {scatter / jackknife:.2f} | {resolved}/{n_windows} | "
              f"{values.mean() - whole[name] / GPA:+.1f} |")


if __name__ == "__main__":
    main()
