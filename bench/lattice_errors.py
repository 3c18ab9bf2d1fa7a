"""Are the lattice constants' error bars of a short NPT run honest?

    python bench/lattice_errors.py            # 30 ps of NPT (about 5 min on 2 cores, pre-trained default model)
    python bench/lattice_errors.py --quick    # 6 ps (about a minute)

Runs one long NPT production (the config's ``properties.lattice_temperature`` protocol, the default
model at one temperature), then cuts it into windows as long as the config's own production run.
For a, c and the pressure it prints: the whole run's mean, error and integrated autocorrelation time
tau (``observables.statistics.correlated_average``; resolved when the run is 50 tau long), and over
the windows the mean error each window reports against the scatter (standard deviation) of the
window means: the error a window's mean actually has, when windows are longer than tau. A ratio
scatter / reported well above 1 means the short runs' error bars are too small.
"""
import argparse

import numpy as np
import yaml

from tifusion import units
from tifusion.model.io import load_model
from tifusion.properties import property_protocol
from tifusion.observables.statistics import correlated_average
from tifusion.properties.lattice import lattice_temperature


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="results/default/models/dft_pretrained/model.npz")
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--temperature", type=float, default=323.0, help="K")
    parser.add_argument("--production-ps", type=float, default=30.0)
    parser.add_argument("--window-ps", type=float, default=None, help="default: the config's production_ps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="6 ps of production")
    args = parser.parse_args()

    with open(args.config) as handle:
        config = yaml.safe_load(handle)
    protocol = property_protocol(config["properties"], "lattice_temperature")
    window_ps = args.window_ps or float(protocol["production_ps"])
    production_ps = 6.0 if args.quick else args.production_ps
    protocol.update(temperatures_K=[args.temperature], production_ps=production_ps)
    potential, params, _, _ = load_model(args.model)
    result = lattice_temperature(potential, params, protocol, args.seed)

    frame_ps = float(result["time_ps"][0])
    window = int(round(window_ps / frame_ps))
    n_windows = result["a_series"].shape[1] // window
    if n_windows < 2:
        raise SystemExit(f"--production-ps {production_ps} holds fewer than two {window_ps}-ps windows")
    series = {"a (nm)": result["a_series"][0], "c (nm)": result["c_series"][0]}
    print(f"\n{args.model}, {args.temperature:g} K, {production_ps:g} ps of NPT production after "
          f"{protocol['equilibration_ps']:g} ps, a frame every {frame_ps:g} ps; {n_windows} windows of {window_ps:g} ps\n")
    print("| quantity | whole run: mean ± error | tau (ps) | resolved | windows: reported error (mean) | "
          "scatter of window means | scatter / reported | windows resolved |")
    print("|---|---|---:|---|---:|---:|---:|---:|")
    for name, x in series.items():
        mean, error, tau, resolved = correlated_average(x)
        windows = [correlated_average(x[k * window:(k + 1) * window]) for k in range(n_windows)]
        reported = np.mean([w[1] for w in windows])
        scatter = np.std([w[0] for w in windows], ddof=1)
        print(f"| {name} | {mean:.5f} ± {error:.5f} | {tau * frame_ps:.2f} | {bool(resolved)} | {reported:.5f} | "
              f"{scatter:.5f} | {scatter / reported:.1f} | {sum(bool(w[3]) for w in windows)}/{n_windows} |")
    print(f"\nmean pressure {result['pressure'][0] / units.GPA:.2f} GPa "
          f"(tau {result['pressure_tau_ps'][0]:.2f} ps)")


if __name__ == "__main__":
    main()
