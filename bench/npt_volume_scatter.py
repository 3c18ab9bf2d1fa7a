"""How far do NPT volume fluctuations scatter from seed to seed, against their error bars?

    python bench/npt_volume_scatter.py            # 10 seeds per coupling (~5 min)
    python bench/npt_volume_scatter.py --quick    # 3 seeds

Runs the protocol of ``tests/md/test_npt.py::test_volume_fluctuations_and_mean_pressure_match_the_target_ensemble``
(Lennard-Jones argon fcc, 108 atoms, 4 K, stochastic cell rescaling with the static bulk modulus K as its
compressibility, 12000 steps) for the isotropic coupling at zero pressure and the anisotropic one at a stress
(20, -15, 5), and prints per coupling the ratio <dV^2> K / (kT <V>) of each seed (exact: 1 up to anharmonic
softening), its mean with standard error, the seed-to-seed standard deviation and the mean jackknife error the
runs report. The test's tolerance is a multiple of that standard deviation.
"""
import argparse

import jax
import numpy as np

from tifusion.md.npt import run_npt
from tifusion.md.pair import lennard_jones
from tifusion.md.state import init_state
from tifusion.observables.statistics import block_estimate
from tifusion.properties.static import elastic_tensor, relax_cubic
from tifusion.runtime import configure_jax
from tifusion.structures import fcc_cubic
from tifusion.units import kT as kT_of

ARGON_MASS = 39.948
LJ = lennard_jones(cutoff=2.2 * 0.3405)
MD = dict(dt=5e-3, friction=2.0, mass=ARGON_MASS, skin=0.05)
COUPLINGS = (("isotropic", 0.0), ("anisotropic", (20.0, -15.0, 5.0)))


def volume_ratio(a, bulk_modulus, coupling, target, seed, temperature=4.0):
    kT = kT_of(temperature)
    positions, box = fcc_cubic(a, (3, 3, 3))
    state = init_state(jax.random.PRNGKey(1000 + seed), positions, box, kT, LJ, None, mass=ARGON_MASS)
    _, frames = run_npt(LJ, None, state, 12000, 10, kT=kT, compressibility=1 / bulk_modulus, pressure=target,
                        coupling=coupling, tau_p=0.05, **MD)
    volume = np.abs(np.linalg.det(np.asarray(frames.box)))[100:]
    return block_estimate(lambda v: np.var(v) / np.mean(v) / kT * bulk_modulus, volume)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 seeds")
    args = parser.parse_args()
    configure_jax()
    seeds = range(3 if args.quick else args.seeds)
    relaxed = relax_cubic(LJ, None, "fcc", 0.53)
    c = elastic_tensor(LJ, None, relaxed["positions"], relaxed["box"])
    a, bulk_modulus = relaxed["a"], float((c[0, 0] + 2 * c[0, 1]) / 3)
    print("| coupling | ratio per seed | mean +- s.e. | sd over seeds | mean reported error |")
    print("|---|---|---:|---:|---:|")
    for coupling, target in COUPLINGS:
        ratios, errors = np.array([volume_ratio(a, bulk_modulus, coupling, target, s) for s in seeds]).T
        print(f"| {coupling} | {', '.join(f'{r:.3f}' for r in ratios)} | {ratios.mean():.3f} +- "
              f"{ratios.std(ddof=1) / np.sqrt(len(ratios)):.3f} | {ratios.std(ddof=1):.3f} | {errors.mean():.3f} |")


if __name__ == "__main__":
    main()
