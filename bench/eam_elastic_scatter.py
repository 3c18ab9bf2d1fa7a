"""How far do stress-fluctuation constants of the reference EAM scatter from seed to seed, against their error bars?

    python bench/eam_elastic_scatter.py                      # 10 seeds, 8 ps at 30 K (~10 min)
    python bench/eam_elastic_scatter.py --quick              # 3 seeds
    python bench/eam_elastic_scatter.py --production-ps 2 --frame-interval-ps 0.01

Runs the protocol of ``tests/properties/test_elastic.py::test_hcp_constants_at_low_temperature_...`` (the Zhou 2004
EAM in its relaxed 0 K lattice, 36 atoms, Langevin NVT at 30 K, dt 1 fs) with independent seeds and prints per
constant the exact relaxed-ion value (docs/reference_potential.md), the mean over seeds with its standard error,
the seed-to-seed standard deviation, the rms of the jackknife errors the runs report, and the largest deviation
from the exact value in units of the standard deviation. The test's tolerance is a multiple of this standard
deviation; the unrelaxed C11 and C12 (161.4, 74.8 GPa) must stay outside it.
"""
import argparse

import numpy as np

from tifusion.properties.elastic import hcp_elastic_at
from tifusion.properties.simulation import state_key
from tifusion.reference.eam import zhou2004_ti
from tifusion.runtime import configure_jax
from tifusion.structures import hcp_supercell
from tifusion.units import ANGSTROM, GPA

A, C = 2.9402 * ANGSTROM, 4.7723 * ANGSTROM
EXACT = dict(C11=147.7, C12=88.5, C13=68.8, C33=203.2, C44=36.6)
MD = dict(dt_ps=0.001, thermostat="langevin", friction_per_ps=4.0, nose_hoover_tau_ps=0.05, skin_nm=0.05,
          checkpoint_ps=None, barostat=dict(tau_ps=0.3, compressibility_per_GPa=1 / 100))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=None, help="default 10 (--quick: 3)")
    parser.add_argument("--production-ps", type=float, default=8.0)
    parser.add_argument("--frame-interval-ps", type=float, default=0.02)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    configure_jax(cache_dir="")
    n_seeds = args.seeds or (3 if args.quick else 10)
    protocol = dict(MD, equilibration_ps=0.4, production_ps=args.production_ps,
                    frame_interval_ps=args.frame_interval_ps, n_blocks=10)
    positions, box = hcp_supercell(A, C, (3, 3, 2))
    values, errors = {name: [] for name in EXACT}, {name: [] for name in EXACT}
    for seed in range(n_seeds):
        result, _ = hcp_elastic_at(zhou2004_ti(), None, positions, box, 30.0, protocol, state_key(seed, "test_hcp"))
        for name in EXACT:
            values[name].append(float(result[name]) / GPA)
            errors[name].append(float(result[f"{name}_err"]) / GPA)
        print(f"seed {seed}: " + " ".join(f"{name} {values[name][-1]:.1f}" for name in EXACT), flush=True)
    print(f"\n{n_seeds} seeds, {args.production_ps:g} ps production, a frame every {args.frame_interval_ps:g} ps "
          "(GPa)\n")
    print("| constant | exact | mean +- s.e. | sd over seeds | rms reported error | max abs(value - exact) / sd |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, exact in EXACT.items():
        v, e = np.array(values[name]), np.array(errors[name])
        sd = v.std(ddof=1)
        print(f"| {name} | {exact:.1f} | {v.mean():.1f} +- {sd / np.sqrt(len(v)):.1f} | {sd:.2f} | "
              f"{np.sqrt(np.mean(e ** 2)):.2f} | {np.max(np.abs(v - exact)) / sd:.1f} |")


if __name__ == "__main__":
    main()
