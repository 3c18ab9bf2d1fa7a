"""Liquid titanium with the Zhou 2004 EAM: the melt is a liquid, and its self-diffusion coefficient
from Green-Kubo (velocities) agrees with the Einstein relation (positions), an independent estimator."""
import numpy as np
import pytest

from tifusion.observables.structure import RDF, running_coordination
from tifusion.properties.liquid import einstein_diffusion, liquid_structure, melt, self_diffusion
from tifusion.reference.eam import zhou2004_ti
from tifusion.units import M2_PER_S

EAM = zhou2004_ti()
COMMON = dict(dt_ps=0.001, coupling="isotropic", thermostat="nose-hoover", nose_hoover_tau_ps=0.05,
              barostat=dict(tau_ps=0.2, compressibility_per_GPa=1 / 80), friction_per_ps=4.0, skin_nm=0.05,
              n_blocks=5, checkpoint_ps=None)
LIQUID = dict(COMMON, start=dict(structure="fcc", a_nm=0.42, repeat=[3, 3, 3]), melt_temperature_K=3500.0,
              melt_ps=0.6, temperature_K=1965.0, npt_ps=0.4, production_ps=0.6, frame_interval_ps=0.02,
              rdf=dict(r_max_nm=0.8, n_bins=80), adf=dict(r_max_nm=0.4, n_bins=36))
DIFFUSION = dict(COMMON, temperatures_K=[2000.0], npt_ps=0.3, equilibration_ps=0.1, production_ps=1.5,
                 frame_interval_ps=0.01, max_lag_ps=0.5, n_origins=10, origin_spacing_ps=0.1)


@pytest.fixture(scope="module")
def melted(seed):
    return melt(EAM, None, LIQUID, seed=seed)


@pytest.mark.slow
def test_the_melt_is_a_liquid_with_a_liquid_structure(melted, seed):
    result = liquid_structure(EAM, None, LIQUID, seed=seed, melt_state=melted)
    r, g = result["r"], result["g"]
    assert 0.26 < r[np.argmax(g)] < 0.30  # nearest-neighbour distance of liquid Ti ~0.285 nm
    assert 2.0 < g.max() < 3.5  # a crystal at this resolution peaks far higher
    assert g[r < 0.2].max() == 0.0  # no overlapping atoms
    first_minimum = np.argmin(np.where((r > 0.33) & (r < 0.45), g, np.inf))
    assert 11 < running_coordination(RDF(r, g, result["r_edges"], float(result["density"])))[first_minimum] < 15
    np.testing.assert_allclose(g[r > 0.6], 1.0, atol=0.2)  # decaying oscillations about 1
    theta, adf = result["theta"], result["adf"]
    assert np.sum(adf * np.diff(result["theta_edges"])) == pytest.approx(1.0)
    assert 50 < theta[np.argmax(adf)] < 65  # near-tetrahedral/icosahedral short-range order
    assert 40 < float(result["density"]) < 60  # atoms/nm^3 (experiment: 51.6 at 1965 K)
    assert abs(float(result["temperature_measured"]) - 1965) < 150


@pytest.mark.slow
def test_green_kubo_diffusion_agrees_with_the_einstein_relation(melted, seed):
    result = self_diffusion(EAM, None, DIFFUSION, seed=seed, melt_state=melted)
    d, error, einstein = float(result["D"][0]), float(result["D_err"][0]), float(result["D_einstein"][0])
    assert 1e-9 < d / M2_PER_S < 2e-8  # liquid metal range (experiment: 5.3e-9 m^2/s at 2000 K)
    assert abs(d - einstein) < 3 * error + 0.2 * d, (d, error, einstein)
    np.testing.assert_allclose(result["vacf"][0][0] * 47.867 / 3, 8.314462618e-3 * 2000, rtol=0.15)  # <v^2> = 3kT/m


def test_einstein_relation_of_ballistic_and_diffusive_motion():
    timestep, n_frames = 0.01, 400
    rng = np.random.default_rng(0)
    steps = rng.normal(scale=np.sqrt(2 * 0.3 * timestep), size=(n_frames, 4000, 3))  # D = 0.3 nm^2/ps
    d, time, msd = einstein_diffusion(np.cumsum(steps, axis=0), timestep, 1.0, 20, 0.1)
    assert d == pytest.approx(0.3, rel=0.04)
    np.testing.assert_allclose(msd[1:], 6 * 0.3 * time[1:], rtol=0.1)
