"""Tests of forecaster.evaluation.stats: hand-computed Diebold-Mariano examples, size and power, direction tests, summaries,
and the Kupiec and Christoffersen coverage tests."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from forecaster.errors import ForecasterError
from forecaster.evaluation.stats import (
    DieboldMarianoResult,
    christoffersen_test,
    conditional_coverage_test,
    diebold_mariano,
    direction_tests,
    kupiec_test,
    long_run_variance,
    loss_differential,
    pairwise_diebold_mariano,
    summarise,
)

# Six errors chosen so that the arithmetic stays in small integers.
# squared losses A: [1, 1, 1, 0, 4, 1]
# squared losses B: [4, 1, 0, 4, 1, 4]
# d = A - B:        [-3, 0, 1, -4, 3, -3], sum -6, so dbar = -1
# d - dbar:         [-2, 1, 2, -3, 4, -2]
# gamma_0 = (4 + 1 + 4 + 9 + 16 + 4) / 6 = 38 / 6
ERRORS_A = np.array([1.0, 1.0, 1.0, 0.0, -2.0, -1.0])
ERRORS_B = np.array([2.0, -1.0, 0.0, 2.0, 1.0, -2.0])


def test_hand_computed_horizon_one():
    assert loss_differential(ERRORS_A, ERRORS_B).tolist() == [-3, 0, 1, -4, 3, -3]
    # h = 1: V = gamma_0 = 38/6.
    assert long_run_variance(loss_differential(ERRORS_A, ERRORS_B), horizon=1) == pytest.approx(38 / 6)
    # DM = dbar / sqrt(V / n) = -1 / sqrt(38 / 36) = -6 / sqrt(38) = -0.97333
    # HLN factor, h = 1: sqrt((n + 1 - 2 + 0) / n) = sqrt(5 / 6) = 0.91287
    # DM* = -6 / sqrt(38) * sqrt(5 / 6) = -0.88852, compared with Student's t with 5 df.
    statistic = -6 / math.sqrt(38) * math.sqrt(5 / 6)
    assert statistic == pytest.approx(-0.8885233166)
    p_value = 2 * scipy_stats.t.sf(abs(statistic), 5)  # 0.41495
    result = diebold_mariano(ERRORS_A, ERRORS_B)
    assert result.statistic == pytest.approx(statistic, rel=1e-12)
    assert result.p_value == pytest.approx(p_value, rel=1e-12)
    assert result == DieboldMarianoResult(result.statistic, result.p_value, -1.0, 6, "squared", 1)


def test_hand_computed_horizon_two():
    # gamma_1 = (1/6) sum_{t=2}^{6} (d_t - dbar)(d_{t-1} - dbar) with d - dbar = [-2, 1, 2, -3, 4, -2]:
    #   1*(-2) + 2*1 + (-3)*2 + 4*(-3) + (-2)*4 = -2 + 2 - 6 - 12 - 8 = -26, so gamma_1 = -26 / 6
    # Bartlett weight w_1 = 1 - 1/2 = 1/2
    # V = gamma_0 + 2 * w_1 * gamma_1 = 38/6 - 26/6 = 2
    assert long_run_variance(loss_differential(ERRORS_A, ERRORS_B), horizon=2) == pytest.approx(2.0)
    # DM = -1 / sqrt(2 / 6) = -sqrt(3)
    # HLN factor, h = 2: sqrt((6 + 1 - 4 + 2*1/6) / 6) = sqrt((10/3) / 6) = sqrt(5/9)
    # DM* = -sqrt(3) * sqrt(5) / 3 = -sqrt(15) / 3 = -1.29099, Student's t with 5 df.
    statistic = -math.sqrt(15) / 3
    result = diebold_mariano(ERRORS_A, ERRORS_B, horizon=2)
    assert result.statistic == pytest.approx(statistic, rel=1e-12)
    assert result.p_value == pytest.approx(2 * scipy_stats.t.sf(abs(statistic), 5), rel=1e-12)  # 0.25317
    assert result.horizon == 2


def test_rejects_a_biased_forecast():
    rng = np.random.default_rng(0)
    errors_a = rng.normal(size=300)
    errors_b = errors_a + 0.5 + 0.3 * rng.normal(size=300)
    result = diebold_mariano(errors_a, errors_b)
    assert result.p_value < 0.01
    assert result.statistic < 0  # A has the smaller loss.


def _rejection_rate(errors_a: np.ndarray, errors_b: np.ndarray, *, horizon: int) -> float:
    """Share of rows (one draw each) on which the test rejects equal accuracy at 5 %."""
    rejected = [diebold_mariano(a, b, horizon=horizon).p_value < 0.05 for a, b in zip(errors_a, errors_b)]
    return float(np.mean(rejected))


def test_size_under_the_null_horizon_one():
    # Both forecasts share a signal's error and add independent noise of equal variance.
    rng = np.random.default_rng(1)
    common = rng.normal(size=(1000, 100))
    errors_a = common + rng.normal(size=(1000, 100))
    errors_b = common + rng.normal(size=(1000, 100))
    assert 0.03 <= _rejection_rate(errors_a, errors_b, horizon=1) <= 0.08


def test_size_under_the_null_horizon_three():
    # Three-step errors of an AR(1) with phi = 0.5 are MA(2): z_t + 0.5 z_{t-1} + 0.25 z_{t-2}.
    # Bartlett weights down-weight lags 1 and 2, so the test over-rejects a little (about 0.065 here).
    rng = np.random.default_rng(0)
    shocks = rng.normal(size=(3, 1000, 102))
    moving_average = shocks[:, :, 2:] + 0.5 * shocks[:, :, 1:-1] + 0.25 * shocks[:, :, :-2]
    errors_a = moving_average[0] + moving_average[1]
    errors_b = moving_average[0] + moving_average[2]
    assert 0.02 <= _rejection_rate(errors_a, errors_b, horizon=3) <= 0.10


def test_symmetry_and_losses():
    rng = np.random.default_rng(2)
    errors_a, errors_b = rng.normal(size=50), 1.2 * rng.normal(size=50)
    forward, backward = diebold_mariano(errors_a, errors_b), diebold_mariano(errors_b, errors_a)
    assert forward.statistic == -backward.statistic
    assert forward.p_value == backward.p_value
    absolute = diebold_mariano(errors_a, errors_b, loss="absolute")
    assert absolute.loss == "absolute"
    assert absolute.statistic != pytest.approx(forward.statistic)
    assert loss_differential([1.0, -2.0], [0.5, 1.0], loss="absolute").tolist() == [0.5, 1.0]


def test_zero_variance_cases():
    same = diebold_mariano([1.0, -2.0, 3.0], [-1.0, 2.0, -3.0])  # equal squared losses everywhere
    assert (same.statistic, same.p_value, same.mean_difference) == (0.0, 1.0, 0.0)
    gap = diebold_mariano([2.0, 2.0, 2.0], [1.0, -1.0, 1.0])  # d = 3 at every point
    assert (gap.statistic, gap.p_value) == (math.inf, 0.0)
    assert diebold_mariano([1.0, 1.0, 1.0], [2.0, 2.0, 2.0]).statistic == -math.inf


def test_pairwise_tables():
    rng = np.random.default_rng(3)
    errors = {name: scale * rng.normal(size=80) for name, scale in [("naive", 1.0), ("mlp", 1.1), ("transformer", 0.7)]}
    p_values, statistics = pairwise_diebold_mariano(errors)
    for table in (p_values, statistics):
        assert isinstance(table, pd.DataFrame)
        assert table.shape == (3, 3)
        assert list(table.index) == list(table.columns) == ["naive", "mlp", "transformer"]
        assert np.isnan(np.diag(table.to_numpy())).all()
    off_diagonal = ~np.eye(3, dtype=bool)
    assert np.array_equal(p_values.to_numpy()[off_diagonal], p_values.T.to_numpy()[off_diagonal])
    assert np.array_equal(statistics.to_numpy()[off_diagonal], -statistics.T.to_numpy()[off_diagonal])
    assert statistics.loc["transformer", "naive"] == diebold_mariano(errors["transformer"], errors["naive"]).statistic
    with pytest.raises(ForecasterError, match="mlp=79"):
        pairwise_diebold_mariano({"naive": errors["naive"], "mlp": errors["mlp"][:79]})


def test_direction_tests():
    result = direction_tests(60, 100, up_share=0.55)
    assert result["accuracy"] == 0.6
    # scipy.stats.binomtest(60, 100, p=0.5, alternative="greater").pvalue
    assert result["p_vs_half"] == pytest.approx(0.028443966820490444, rel=1e-9)
    # against max(0.55, 0.45) = 0.55: binomtest(60, 100, p=0.55, alternative="greater").pvalue
    assert result["p_vs_always_up"] == pytest.approx(0.18305694421446572, rel=1e-9)
    # The more frequent direction counts, whichever it is.
    assert direction_tests(60, 100, up_share=0.45)["p_vs_always_up"] == result["p_vs_always_up"]
    empty = direction_tests(0, 0, up_share=0.5)
    assert set(empty) == {"accuracy", "p_vs_half", "p_vs_always_up"}
    assert all(math.isnan(value) for value in empty.values())
    with pytest.raises(ForecasterError, match="hits=101"):
        direction_tests(101, 100, up_share=0.5)


def test_summarise():
    result = summarise([1.0, 2.0, 3.0, np.nan, 4.0])
    # mean 2.5; std = sqrt(((1.5^2 + 0.5^2) * 2) / 3) = sqrt(5/3) = 1.29099; count 4 (NaN ignored)
    # t quantile: scipy.stats.t.ppf(0.975, 3) = 3.1824463052837078
    half_width = 3.1824463052837078 * math.sqrt(5 / 3) / math.sqrt(4)  # 2.05426
    assert result["mean"] == 2.5
    assert result["std"] == pytest.approx(math.sqrt(5 / 3))
    assert result["count"] == 4
    assert result["ci_low"] == pytest.approx(2.5 - half_width)
    assert result["ci_high"] == pytest.approx(2.5 + half_width)
    assert summarise([7.0]) == {"mean": 7.0, "std": 0.0, "count": 1, "ci_low": 7.0, "ci_high": 7.0}
    empty = summarise([np.nan, np.nan])
    assert empty["count"] == 0
    assert all(math.isnan(empty[key]) for key in ("mean", "std", "ci_low", "ci_high"))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: diebold_mariano([1.0, 2.0, 3.0], [1.0, 2.0]), "errors_a has 3 points and errors_b has 2"),
        (lambda: diebold_mariano([1.0, np.nan, 3.0], [1.0, 2.0, 3.0]), "errors_a has 1 NaN"),
        (lambda: diebold_mariano([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], loss="huber"), "loss='huber'.*squared, absolute"),
        (lambda: diebold_mariano([1.0, 2.0, 3.0], [3.0, 2.0, 1.0], horizon=3), "horizon=3.*from 1 to 2"),
        (lambda: diebold_mariano([1.0, 2.0, 3.0], [3.0, 2.0, 1.0], horizon=0), "horizon=0"),
        (lambda: diebold_mariano([1.0], [2.0]), "at least 2"),
        (lambda: summarise([1.0], confidence=1.5), "confidence=1.5"),
        (lambda: kupiec_test([True, False], 0.0), "alpha=0.0.*strictly between 0 and 1"),
        (lambda: kupiec_test([True, False], 1.0), "alpha=1.0"),
        (lambda: kupiec_test([[True, False]], 0.05), r"misses has shape \(1, 2\).*1-D"),
        (lambda: christoffersen_test([0, 1, 2]), "misses holds values other than True/False"),
        (lambda: conditional_coverage_test([0.5, 1.0], 0.05), "misses holds values other than"),
    ],
)
def test_errors_are_one_line(call, match):
    with pytest.raises(ForecasterError, match=match) as caught:
        call()
    assert "\n" not in str(caught.value)


def _textbook_kupiec(misses: list[int], alpha: float) -> float:
    """LR_uc from the likelihoods themselves: L(p) = p^x (1 - p)^(n - x), Python's 0.0**0 = 1."""
    count, missed = len(misses), sum(misses)
    rate = missed / count
    return -2 * math.log(alpha**missed * (1 - alpha) ** (count - missed) / (rate**missed * (1 - rate) ** (count - missed)))


def _textbook_christoffersen(misses: list[int]) -> float:
    """LR_ind from the transition counts and the two likelihoods of Christoffersen (1998)."""
    pairs = list(zip(misses[:-1], misses[1:]))
    n = {(i, j): pairs.count((i, j)) for i in (0, 1) for j in (0, 1)}
    pi01 = n[0, 1] / (n[0, 0] + n[0, 1])
    pi11 = n[1, 1] / (n[1, 0] + n[1, 1])
    pi = (n[0, 1] + n[1, 1]) / len(pairs)
    null = (1 - pi) ** (n[0, 0] + n[1, 0]) * pi ** (n[0, 1] + n[1, 1])
    markov = (1 - pi01) ** n[0, 0] * pi01 ** n[0, 1] * (1 - pi11) ** n[1, 0] * pi11 ** n[1, 1]
    return -2 * math.log(null / markov)


def test_kupiec_by_hand():
    # n = 20, x = 3 misses, alpha = 0.05, pi = 0.15:
    # LR_uc = -2 [3 ln 0.05 + 17 ln 0.95 - 3 ln 0.15 - 17 ln 0.85] = -2 [3 ln(1/3) + 17 ln(19/17)]
    #       = -2 [-3.295837 + 1.890836] = 2.810002; chi2(1) tail 0.09368
    misses = [0] * 17 + [1] * 3
    statistic = -2 * (3 * math.log(1 / 3) + 17 * math.log(19 / 17))
    assert statistic == pytest.approx(2.810002, abs=1e-6)
    assert statistic == pytest.approx(_textbook_kupiec(misses, 0.05), rel=1e-12)
    result = kupiec_test(np.array(misses, dtype=bool), 0.05)
    assert (result["count"], result["misses"], result["miss_rate"]) == (20, 3, 0.15)
    assert result["statistic"] == pytest.approx(statistic, rel=1e-12)
    assert result["p_value"] == pytest.approx(scipy_stats.chi2.sf(statistic, 1), rel=1e-12)
    assert result["p_value"] == pytest.approx(0.09368, abs=1e-5)
    # The order of the points does not matter to this test.
    assert kupiec_test(np.array(misses[::-1], dtype=bool), 0.05)["statistic"] == result["statistic"]


def test_kupiec_edge_cases():
    # No misses in 10 at alpha = 0.05: LR_uc = -2 * 10 * ln 0.95 = 1.025866 (0 * ln 0 = 0).
    none = kupiec_test(np.zeros(10, dtype=bool), 0.05)
    assert none["statistic"] == pytest.approx(-20 * math.log(0.95), rel=1e-12)
    assert none["statistic"] == pytest.approx(_textbook_kupiec([0] * 10, 0.05), rel=1e-12)
    assert (none["misses"], none["miss_rate"]) == (0, 0.0)
    # All 4 missed at alpha = 0.5: LR_uc = -2 * 4 * ln 0.5 = 5.545177.
    every = kupiec_test(np.ones(4, dtype=bool), 0.5)
    assert every["statistic"] == pytest.approx(-8 * math.log(0.5), rel=1e-12)
    assert every["miss_rate"] == 1.0
    # The nominal rate exactly: LR_uc = 0, p = 1.
    exact = kupiec_test([True] + [False] * 19, 0.05)
    assert (exact["statistic"], exact["p_value"]) == (0.0, 1.0)
    empty = kupiec_test(np.array([], dtype=bool), 0.05)
    assert (empty["count"], empty["misses"]) == (0, 0)
    assert all(math.isnan(empty[key]) for key in ("miss_rate", "statistic", "p_value"))


def test_christoffersen_by_hand():
    # misses 0 0 1 1 0 1 0 0 0 1; the 9 steps: 00 01 11 10 01 10 00 00 01
    # n00 = 3, n01 = 3, n10 = 2, n11 = 1; pi01 = 3/6, pi11 = 1/3, pi = 4/9
    # ln L(pi01, pi11) = 3 ln(1/2) + 3 ln(1/2) + 2 ln(2/3) + ln(1/3) = -6.068426
    # ln L(pi)         = 5 ln(5/9) + 4 ln(4/9)                        = -6.182654
    # LR_ind = -2 (-6.182654 + 6.068426) = 0.228457; chi2(1) tail 0.63267
    misses = [0, 0, 1, 1, 0, 1, 0, 0, 0, 1]
    markov = 6 * math.log(1 / 2) + 2 * math.log(2 / 3) + math.log(1 / 3)
    null = 5 * math.log(5 / 9) + 4 * math.log(4 / 9)
    statistic = -2 * (null - markov)
    assert statistic == pytest.approx(0.228457, abs=1e-6)
    result = christoffersen_test(np.array(misses, dtype=bool))
    assert (result["n00"], result["n01"], result["n10"], result["n11"]) == (3, 3, 2, 1)
    assert result["statistic"] == pytest.approx(statistic, rel=1e-12)
    assert result["statistic"] == pytest.approx(_textbook_christoffersen(misses), rel=1e-12)
    assert result["p_value"] == pytest.approx(scipy_stats.chi2.sf(statistic, 1), rel=1e-12)
    # LR_cc = LR_uc + LR_ind; at alpha = 0.1 with 4 misses in 10: LR_uc = -2 [4 ln(0.1/0.4) + 6 ln(0.9/0.6)]
    joint = conditional_coverage_test(misses, 0.1)
    uc = -2 * (4 * math.log(0.25) + 6 * math.log(1.5))  # -2 (-5.545177 + 2.432789) = 6.224774
    assert joint["uc_statistic"] == pytest.approx(uc, rel=1e-12)
    assert joint["ind_statistic"] == result["statistic"]
    assert joint["statistic"] == pytest.approx(uc + statistic, rel=1e-12)
    assert joint["p_value"] == pytest.approx(scipy_stats.chi2.sf(uc + statistic, 2), rel=1e-12)


def test_christoffersen_detects_clustered_misses():
    # Four misses in a row: n00 = 6, n01 = 1, n10 = 1, n11 = 3.
    misses = [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0]
    result = christoffersen_test(misses)
    assert (result["n00"], result["n01"], result["n10"], result["n11"]) == (6, 1, 1, 3)
    assert result["statistic"] == pytest.approx(_textbook_christoffersen(misses), rel=1e-12)
    assert result["p_value"] < 0.05
    # A miss right after the first point, then none: pi01 = pi11 = pi = 0, so LR_ind = 0 and p = 1.
    once = christoffersen_test([1, 0, 0, 0])
    assert (once["n00"], once["n01"], once["n10"], once["n11"]) == (2, 0, 1, 0)
    assert (once["statistic"], once["p_value"]) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("misses", "counts"),
    [
        ([], (0, 0, 0, 0)),  # no step
        ([1], (0, 0, 0, 0)),  # no step
        ([0, 0, 0, 0], (3, 0, 0, 0)),  # no step out of a miss
        ([0, 0, 0, 1], (2, 1, 0, 0)),  # the only miss is last: still no step out of a miss
        ([1, 1, 1], (0, 0, 0, 2)),  # no step out of a hit
        ([1, 1, 0], (0, 0, 1, 1)),  # the only hit is last
    ],
)
def test_christoffersen_degenerate_cases_are_nan(misses, counts):
    result = christoffersen_test(np.array(misses, dtype=bool))
    assert (result["n00"], result["n01"], result["n10"], result["n11"]) == counts
    assert math.isnan(result["statistic"]) and math.isnan(result["p_value"])
    joint = conditional_coverage_test(np.array(misses, dtype=bool), 0.05)
    assert math.isnan(joint["statistic"]) and math.isnan(joint["p_value"])
