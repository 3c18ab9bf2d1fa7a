import os
from pathlib import Path

import pytest

from tifusion.runtime import configure_jax

# The reference potential and the physics checks run in float64 (models choose their own dtype). A persistent
# compile cache shared by the test workers and both tiers: tests compile the same MD and training functions.
configure_jax(enable_x64=True, cache_dir=os.environ.get("TIFUSION_JAX_CACHE",
                                                        str(Path(__file__).resolve().parents[1] / ".jax_cache")))


def pytest_addoption(parser):
    parser.addoption("--seeds", type=int, default=1,
                     help="run every test that takes a `seed` (the statistical ones) with seeds 0 .. N-1")


def pytest_generate_tests(metafunc):
    """Tests of fluctuating estimates take a `seed`; `--seeds 10` runs each of them for 10 seeds."""
    if "seed" in metafunc.fixturenames:
        metafunc.parametrize("seed", range(metafunc.config.getoption("seeds")), scope="module",
                             ids=lambda s: f"seed{s}")
