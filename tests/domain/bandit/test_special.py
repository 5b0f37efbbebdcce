"""Special functions: incomplete beta and gamma, Beta quantiles, the chi-square tail, against closed forms."""

from __future__ import annotations

import math

import pytest

from referral_automation.domain.bandit import beta_ppf, betainc, chi2_sf, gammaincc


@pytest.mark.parametrize("x", [0.001, 0.1, 0.37, 0.5, 0.9, 0.999])
def test_the_incomplete_beta_matches_closed_forms(x: float) -> None:
    """It gives the Beta CDF that closed forms give: powers for a or b equal to one, binomial tails for integers."""
    assert betainc(1.0, 7.0, x) == pytest.approx(1.0 - (1.0 - x) ** 7, rel=1e-12)
    assert betainc(3.0, 1.0, x) == pytest.approx(x**3, rel=1e-12)
    a, b = 4, 9  # I_x(a, b) = P(Binomial(a + b - 1, x) >= a)
    tail = sum(math.comb(a + b - 1, j) * x**j * (1 - x) ** (a + b - 1 - j) for j in range(a, a + b))
    assert betainc(a, b, x) == pytest.approx(tail, rel=1e-10, abs=1e-300)


def test_the_incomplete_beta_is_symmetric_and_bounded() -> None:
    """It gives one half at the middle of a symmetric Beta, and 0 and 1 at the ends."""
    for a in (0.5, 2.0, 40.0, 5000.0):
        assert betainc(a, a, 0.5) == pytest.approx(0.5, abs=1e-10)
    assert betainc(2.0, 3.0, 0.0) == 0.0
    assert betainc(2.0, 3.0, 1.0) == 1.0
    with pytest.raises(ValueError):
        betainc(0.0, 1.0, 0.5)


@pytest.mark.parametrize(("a", "b"), [(1, 1), (0.5, 0.5), (2, 30), (30, 1e6), (3, 2e6), (1000, 100_000), (0.06, 1.94)])
@pytest.mark.parametrize("q", [0.001, 0.025, 0.5, 0.975, 0.999])
def test_beta_quantiles_invert_the_cdf(a: float, b: float, q: float) -> None:
    """It finds the Beta quantile whose CDF is the probability asked for, from uniform to very lopsided Betas."""
    x = beta_ppf(q, a, b)
    assert 0.0 < x < 1.0
    assert betainc(a, b, x) == pytest.approx(q, rel=1e-8)


def test_beta_quantiles_at_the_ends() -> None:
    """It gives 0 and 1 for the extreme quantiles and refuses probabilities outside [0, 1]."""
    assert beta_ppf(0.0, 2.0, 3.0) == 0.0
    assert beta_ppf(1.0, 2.0, 3.0) == 1.0
    with pytest.raises(ValueError):
        beta_ppf(1.5, 2.0, 3.0)


@pytest.mark.parametrize("x", [0.01, 0.5, 3.84, 10.0, 50.0, 300.0])
def test_the_chi_square_tail_matches_closed_forms(x: float) -> None:
    """It gives the chi-square tail that closed forms give for one, two and four degrees of freedom."""
    assert chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-10)
    assert chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-10)
    assert chi2_sf(x, 4) == pytest.approx(math.exp(-x / 2) * (1 + x / 2), rel=1e-10)


def test_the_upper_incomplete_gamma_is_a_poisson_tail_for_integers() -> None:
    """It gives Q(n, x) = P(Poisson(x) < n) for whole n, on both sides of the series' switch."""
    for n in (1, 3, 10, 60):
        for x in (0.5, 5.0, 12.0, 80.0):
            poisson = sum(math.exp(-x + k * math.log(x) - math.lgamma(k + 1)) for k in range(n))
            assert gammaincc(n, x) == pytest.approx(poisson, rel=1e-10)


def test_the_familiar_critical_values() -> None:
    """It puts five percent above 3.841 with one degree of freedom and above 124.342 with one hundred."""
    assert chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-9)
    assert chi2_sf(124.34211340400407, 100) == pytest.approx(0.05, rel=1e-6)
    assert chi2_sf(0.0, 5) == 1.0
    with pytest.raises(ValueError):
        chi2_sf(1.0, 0)
