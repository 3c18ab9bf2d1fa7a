"""Green-Kubo diffusion against free Langevin particles, whose velocities are an exact
Ornstein-Uhlenbeck process: <v(0) . v(t)> = (3 kT / m) exp(-gamma t) and D = kT / (m gamma)."""
import numpy as np
import pytest

from tifusion.observables.dynamics import arrhenius_fit, green_kubo_diffusion
from tifusion.units import MASS_TI, kT

TEMPERATURE = 2000.0  # K
GAMMA = 5.0  # 1/ps
TIMESTEP = 0.01  # ps, the paper's frame spacing
MAX_LAG = 2.0  # ps: exp(-gamma max_lag) = 5e-5
N_ATOMS = 400
N_FRAMES = int(round((159 * 0.5 + MAX_LAG) / TIMESTEP)) + 1  # just enough for 160 origins 0.5 ps apart


def ornstein_uhlenbeck(n_frames, n_atoms, seed):
    """Exact OU samples at spacing TIMESTEP, started in equilibrium (Maxwell-Boltzmann)."""
    rng = np.random.default_rng(seed)
    thermal = np.sqrt(kT(TEMPERATURE) / MASS_TI)  # nm/ps per component
    decay = np.exp(-GAMMA * TIMESTEP)
    kick = thermal * np.sqrt(1 - decay**2)
    v = np.empty((n_frames, n_atoms, 3))
    v[0] = thermal * rng.standard_normal((n_atoms, 3))
    for t in range(1, n_frames):
        v[t] = decay * v[t - 1] + kick * rng.standard_normal((n_atoms, 3))
    return v


@pytest.fixture(scope="module")
def velocities():
    return ornstein_uhlenbeck(N_FRAMES, N_ATOMS, seed=7)


@pytest.fixture(scope="module")
def diffusion(velocities):
    return green_kubo_diffusion(velocities, TIMESTEP, MAX_LAG)  # paper defaults: 160 origins, 0.5 ps, 10 blocks


def test_green_kubo_d_equals_kt_over_m_gamma_within_its_error_bar(diffusion):
    exact = kT(TEMPERATURE) / (MASS_TI * GAMMA)  # nm^2/ps
    assert 0 < diffusion.error < 0.05 * exact
    assert abs(diffusion.D - exact) < 3 * diffusion.error
    assert diffusion.per_origin.shape == (160,)


def test_vacf_starts_at_3kt_over_m_and_decays_exponentially(diffusion):
    vacf = diffusion.vacf
    thermal2 = kT(TEMPERATURE) / MASS_TI  # <v_x^2>
    assert vacf.time[0] == 0.0 and vacf.time[-1] == pytest.approx(MAX_LAG)
    assert vacf.error[0] < 0.01 * 3 * thermal2
    # Exact spread of the estimate: var(v_x(0) v_x(t)) = <v_x^2>^2 (1 + rho^2), rho = exp(-gamma t), three
    # components, N atoms, 160 origins (0.5 ps apart: correlation exp(-2.5)^2 < 1 %, neglected).
    rho = np.exp(-GAMMA * vacf.time)
    sigma = thermal2 * np.sqrt(3 * (1 + rho**2) / (N_ATOMS * 160))
    z = (vacf.vacf - 3 * thermal2 * rho) / sigma
    assert abs(z[0]) < 3  # C(0) = 3 kT / m
    assert np.all(np.abs(z) < 4.5)
    # The block error bars estimate that spread (10 blocks: about +-25 % each, averaged over lags).
    assert np.mean(vacf.error / sigma) == pytest.approx(1.0, abs=0.25)


def test_block_error_matches_the_scatter_of_independent_estimates(velocities):
    # 20 disjoint groups of 20 particles are independent estimates of D: their scatter must agree
    # with the block error each of them reports.
    groups = velocities.reshape(N_FRAMES, 20, 20, 3).transpose(1, 0, 2, 3)
    results = [green_kubo_diffusion(group, TIMESTEP, MAX_LAG) for group in groups]
    scatter = np.std([r.D for r in results], ddof=1)
    reported = np.sqrt(np.mean([r.error**2 for r in results]))
    assert 0.6 < reported / scatter < 1.6


def test_origin_and_lag_settings_are_checked(velocities):
    short = velocities[:500]
    with pytest.raises(ValueError, match=r"need 8151 frames, the trajectory has 500 \(6 origins fit\)"):
        green_kubo_diffusion(short, TIMESTEP, MAX_LAG)
    result = green_kubo_diffusion(short, TIMESTEP, 1.0, n_origins=8, origin_spacing=0.5, n_blocks=4)
    assert result.vacf.time.shape == (101,)
    with pytest.raises(ValueError, match="multiple of the frame spacing"):
        green_kubo_diffusion(short, TIMESTEP, 1.0, origin_spacing=0.505)
    with pytest.raises(ValueError, match="shape"):
        green_kubo_diffusion(short[:, :, :2], TIMESTEP, 1.0)


def test_arrhenius_fit_recovers_the_prefactor_and_activation_energy():
    temperature = np.array([1950.0, 2000.0, 2060.0, 2110.0])
    d0, activation = 2.0e-7, 60.0  # m^2/s, kJ/mol
    fitted = arrhenius_fit(temperature, d0 * np.exp(-activation / kT(temperature)))
    assert fitted == pytest.approx((d0, activation), rel=1e-9)
    with pytest.raises(ValueError, match="positive"):
        arrhenius_fit(temperature, [1.0, 0.0, 1.0, 1.0])
