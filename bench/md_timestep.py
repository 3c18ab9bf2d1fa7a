"""Does the MD time step change the elastic constants and the pressure? Stress-fluctuation runs at several dt.

    python bench/md_timestep.py                  # dt 1, 2, 4 fs x 4 seeds, the config's hcp protocol (~25 min)
    python bench/md_timestep.py --quick          # dt 2, 4 fs x 2 seeds, production halved (~5 min)
    python bench/md_timestep.py --model results/default/models/dft_pretrained/model.npz --temperature 923 --dt-fs 2 4 5

Runs the config's ``properties.hcp_elastic`` protocol (Langevin NVT in the experimental 150-atom box of one
temperature; the same picoseconds of equilibration and production and the same frame interval for every dt) with
``--seeds`` independent seeds per dt (the frame interval rounded to a multiple of the longest dt), and prints per dt the mean over seeds of C11, C33, C44, C12, C13 and the
pressure with the standard error of that mean (from the seed-to-seed scatter), the mean kinetic temperature, the
MD wall time per ps, and the difference of each mean from the smallest dt's in units of the combined standard
error. BAOAB Langevin samples configurations with an O(dt^2) error; a |difference| well above 2 combined errors
would show that a dt is too long for these observables. Prints the load average: times are upper bounds.
"""
import argparse
import os
import time

import numpy as np
import yaml

from tifusion.data.experiment import experimental_cell
from tifusion.model.io import load_model
from tifusion.observables.elasticity import HEXAGONAL_CONSTANTS
from tifusion.properties import property_protocol
from tifusion.properties.elastic import hcp_elastic_at
from tifusion.properties.simulation import state_key
from tifusion.runtime import configure_jax
from tifusion.units import GPA

QUANTITIES = (*HEXAGONAL_CONSTANTS, "pressure")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="results/default/models/dft_pretrained/model.npz")
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--temperature", type=float, default=323.0, help="K, a row of the experimental table")
    parser.add_argument("--dt-fs", type=float, nargs="+", default=None, help="time steps (default 1 2 4; --quick 2 4)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per dt (default 4; --quick 2)")
    parser.add_argument("--quick", action="store_true", help="2 time steps, 2 seeds, half the production")
    args = parser.parse_args()
    configure_jax(cache_dir="")
    with open(args.config) as handle:
        config = yaml.safe_load(handle)
    protocol = property_protocol(config["properties"], "hcp_elastic")
    if args.quick:
        protocol["production_ps"] = protocol["frame_interval_ps"] * max(
            2 * protocol["n_blocks"], round(protocol["production_ps"] / protocol["frame_interval_ps"] / 2))
    time_steps = args.dt_fs or ([2.0, 4.0] if args.quick else [1.0, 2.0, 4.0])
    n_seeds = args.seeds or (2 if args.quick else 4)
    # every stage a whole number of frame intervals, each a whole number of the longest step
    longest = max(time_steps) * 1e-3
    interval = max(1, round(protocol["frame_interval_ps"] / longest)) * longest
    protocol.update(frame_interval_ps=interval,
                    production_ps=interval * round(protocol["production_ps"] / protocol["frame_interval_ps"]),
                    equilibration_ps=interval * round(protocol["equilibration_ps"] / interval))
    potential, params, _, _ = load_model(args.model)
    positions, box = experimental_cell(args.temperature)
    rows = {}
    for dt_fs in time_steps:
        run_protocol = dict(protocol, dt_ps=dt_fs * 1e-3)
        values, seconds = [], []
        for seed in range(n_seeds):
            started = time.perf_counter()
            result, _ = hcp_elastic_at(potential, params, positions, box, args.temperature, run_protocol,
                                       state_key(seed, "md_timestep", f"T{args.temperature:g}K"))
            seconds.append(time.perf_counter() - started)
            values.append({**{q: float(result[q]) / GPA for q in QUANTITIES},
                           "temperature": float(result["temperature"])})
            print(f"dt {dt_fs:g} fs, seed {seed}: " + ", ".join(f"{k} {v:.2f}" for k, v in values[-1].items())
                  + f" ({seconds[-1]:.0f} s)", flush=True)
        md_ps = protocol["equilibration_ps"] + protocol["production_ps"]
        rows[dt_fs] = {k: (np.mean([v[k] for v in values]), np.std([v[k] for v in values], ddof=1) / np.sqrt(n_seeds))
                       for k in values[0]}
        rows[dt_fs]["s_per_ps"] = np.median(seconds[1:] or seconds) / md_ps

    reference = rows[min(time_steps)]
    print(f"\n# {args.model} at {args.temperature:g} K: {n_seeds} seeds per dt, {protocol['production_ps']:g} ps "
          f"production every {protocol['frame_interval_ps']:g} ps after {protocol['equilibration_ps']:g} ps; "
          f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    print("Mean over seeds +- standard error of the mean (GPa; T in K); in brackets the difference from the "
          f"dt = {min(time_steps):g} fs mean in combined standard errors.\n")
    print("| dt fs | " + " | ".join(QUANTITIES) + " | T | wall s per ps |")
    print("|---:|" + "---:|" * (len(QUANTITIES) + 2))
    for dt_fs, row in rows.items():
        cells = []
        for q in (*QUANTITIES, "temperature"):
            mean, err = row[q]
            ref_mean, ref_err = reference[q]
            z = (mean - ref_mean) / np.hypot(err, ref_err) if dt_fs != min(time_steps) else None
            cells.append(f"{mean:.2f} +- {err:.2f}" + ("" if z is None else f" [{z:+.1f}]"))
        print(f"| {dt_fs:g} | " + " | ".join(cells) + f" | {row['s_per_ps']:.1f} |")


if __name__ == "__main__":
    main()
