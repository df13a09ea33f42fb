"""Statistical tests of forecasts: Diebold-Mariano (with the HLN correction), binomial tests of direction and
likelihood-ratio tests of interval coverage (Kupiec, Christoffersen).

Pure functions on arrays. Errors are ``forecast - actual`` for the same points, in the same order; misses
are True where the actual value fell outside its prediction interval, in time order.

References:
- Diebold, F. X. & Mariano, R. S. (1995), "Comparing predictive accuracy", JBES 13(3): the test.
- Harvey, D., Leybourne, S. & Newbold, P. (1997), "Testing the equality of prediction mean squared
  errors", IJF 13(2): the small-sample correction and the Student-t reference distribution.
- Newey, W. K. & West, K. D. (1987), "A simple, positive semi-definite, heteroskedasticity and
  autocorrelation consistent covariance matrix", Econometrica 55(3): the Bartlett weights.
- Kupiec, P. H. (1995), "Techniques for verifying the accuracy of risk measurement models", Journal of
  Derivatives 3(2): the proportion-of-failures test of unconditional coverage.
- Christoffersen, P. F. (1998), "Evaluating interval forecasts", International Economic Review 39(4): the
  Markov test of independent misses and the joint test of conditional coverage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special as scipy_special
from scipy import stats as scipy_stats

from forecaster.errors import ForecasterError

LOSSES = ("squared", "absolute")


@dataclass(frozen=True)
class DieboldMarianoResult:
    """One Diebold-Mariano test of forecast A against forecast B.

    ``statistic`` is the HLN-corrected statistic: negative means A has the smaller mean loss.
    ``mean_difference`` is the mean of ``loss(A) - loss(B)``; ``count`` the number of points.
    """

    statistic: float
    p_value: float
    mean_difference: float
    count: int
    loss: str
    horizon: int


def _as_errors(values, name: str) -> np.ndarray:
    """One 1-D float array of forecast errors without NaNs, or a ForecasterError naming ``name``."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ForecasterError(f"{name} has shape {array.shape}; expected a 1-D array of forecast errors")
    if np.isnan(array).any():
        count = int(np.isnan(array).sum())
        raise ForecasterError(f"{name} has {count} NaN value(s); expected finite errors (drop those points first)")
    return array


def loss_differential(errors_a, errors_b, *, loss: str = "squared") -> np.ndarray:
    """The loss differential d_t = L(e_a,t) - L(e_b,t), with L = e**2 ("squared") or |e| ("absolute")."""
    if loss not in LOSSES:
        raise ForecasterError(f"loss={loss!r} is not known; valid losses: {', '.join(LOSSES)}")
    errors_a = _as_errors(errors_a, "errors_a")
    errors_b = _as_errors(errors_b, "errors_b")
    if len(errors_a) != len(errors_b):
        raise ForecasterError(
            f"errors_a has {len(errors_a)} points and errors_b has {len(errors_b)}; "
            "expected errors for the same points (equal lengths)"
        )
    if loss == "squared":
        return errors_a**2 - errors_b**2
    return np.abs(errors_a) - np.abs(errors_b)


def long_run_variance(differential, *, horizon: int) -> float:
    """The long-run variance of the differential: the variance of sqrt(n) times its mean.

    V = gamma_0 + 2 * sum_{k=1}^{h-1} w_k gamma_k, with gamma_k = (1/n) sum_{t=k+1}^{n} (d_t - dbar)(d_{t-k} - dbar).

    Diebold & Mariano (1995) truncate at lag h - 1 because optimal h-step forecast errors are MA(h - 1).
    They use equal weights, which can give a negative variance; we use the Bartlett weights
    w_k = 1 - k/h of Newey & West (1987) with bandwidth h, which keep the estimate non-negative at the cost
    of down-weighting the higher lags. For h = 1 both reduce to gamma_0.
    """
    differential = _as_errors(differential, "differential")
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ForecasterError(f"horizon={horizon!r} is invalid; expected an integer >= 1")
    count = len(differential)
    if count == 0:
        raise ForecasterError("differential is empty; expected at least one point")
    if np.ptp(differential) == 0:
        # A constant differential has no variance; computing it would leave rounding noise from the mean.
        return 0.0
    deviation = differential - differential.mean()
    variance = float(deviation @ deviation) / count
    for lag in range(1, min(horizon, count)):
        autocovariance = float(deviation[lag:] @ deviation[:-lag]) / count
        variance += 2.0 * (1.0 - lag / horizon) * autocovariance
    # Bartlett weights make V >= 0 in exact arithmetic; clip the rounding error.
    return max(variance, 0.0)


def diebold_mariano(errors_a, errors_b, *, horizon: int = 1, loss: str = "squared") -> DieboldMarianoResult:
    """Diebold-Mariano test of equal accuracy for two forecasts of the same points, HLN-corrected.

    DM = dbar / sqrt(V / n) with V from ``long_run_variance``; the Harvey, Leybourne & Newbold (1997)
    statistic DM * sqrt((n + 1 - 2h + h(h - 1)/n) / n) is compared with Student's t with n - 1 degrees of
    freedom, two-sided. A negative statistic means forecast A has the smaller loss.
    """
    differential = loss_differential(errors_a, errors_b, loss=loss)
    return diebold_mariano_differential(differential, horizon=horizon, loss=loss)


def diebold_mariano_differential(differential, *, horizon: int = 1, loss: str = "given") -> DieboldMarianoResult:
    """The same test on a loss differential d_t computed elsewhere (e.g. losses averaged over seeds)."""
    differential = np.asarray(differential, dtype=float)
    count = len(differential)
    if count < 2:
        raise ForecasterError(f"{count} forecast error(s) given; the test needs at least 2")
    if np.isnan(differential).any():
        raise ForecasterError("the loss differential holds NaN values; drop the failed forecasts first")
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or not 1 <= horizon < count:
        raise ForecasterError(f"horizon={horizon!r} is invalid; expected an integer from 1 to {count - 1} (below n={count})")
    horizon = int(horizon)
    mean_difference = float(differential.mean())
    variance = long_run_variance(differential, horizon=horizon)
    if variance == 0.0:
        # Identical losses at every point: no evidence either way; a constant non-zero gap: certain.
        if mean_difference == 0.0:
            statistic, p_value = 0.0, 1.0
        else:
            statistic, p_value = float(np.copysign(np.inf, mean_difference)), 0.0
    else:
        statistic = mean_difference / np.sqrt(variance / count)
        # The small-sample correction of Harvey, Leybourne & Newbold (1997).
        statistic *= np.sqrt((count + 1 - 2 * horizon + horizon * (horizon - 1) / count) / count)
        statistic = float(statistic)
        p_value = float(2.0 * scipy_stats.t.sf(abs(statistic), df=count - 1))
    return DieboldMarianoResult(
        statistic=statistic, p_value=p_value, mean_difference=mean_difference, count=count, loss=loss, horizon=horizon,
    )


def pairwise_diebold_mariano(
    errors: dict[str, np.ndarray], *, horizon: int = 1, loss: str = "squared"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Diebold-Mariano tests between every pair of models: ``(p_values, statistics)``.

    Both tables have one row (model A) and one column (model B) per model, in the dict's order, and
    NaN on the diagonal. A negative statistic in row A, column B means A has the smaller loss.
    """
    names = list(errors)
    lengths = {name: len(np.asarray(errors[name])) for name in names}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise ForecasterError(f"models have different numbers of errors ({listed}); expected the same points for all")
    p_values = pd.DataFrame(np.nan, index=names, columns=names)
    statistics = pd.DataFrame(np.nan, index=names, columns=names)
    for position, name_a in enumerate(names):
        for name_b in names[position + 1 :]:
            result = diebold_mariano(errors[name_a], errors[name_b], horizon=horizon, loss=loss)
            # The test is antisymmetric: swapping A and B flips the sign and keeps the p-value.
            statistics.loc[name_a, name_b], statistics.loc[name_b, name_a] = result.statistic, -result.statistic
            p_values.loc[name_a, name_b] = p_values.loc[name_b, name_a] = result.p_value
    for table in (p_values, statistics):
        table.index.name, table.columns.name = "model_a", "model_b"
    return p_values, statistics


def direction_tests(hits: int, trials: int, *, up_share: float) -> dict[str, float]:
    """Is a directional accuracy of ``hits / trials`` better than chance, and than a constant forecast?

    One-sided exact binomial tests (``scipy.stats.binomtest``, alternative "greater"):
    ``p_vs_half`` against a coin (p = 0.5) and ``p_vs_always_up`` against p = max(up_share, 1 - up_share),
    the accuracy of always forecasting the more frequent direction. ``up_share`` is the share of the
    tested points on which the series went up. With no trials every value is NaN.
    """
    integers = all(isinstance(value, (int, np.integer)) and not isinstance(value, bool) for value in (hits, trials))
    if not integers or not 0 <= hits <= trials:
        raise ForecasterError(f"hits={hits}, trials={trials} is invalid; expected 0 <= hits <= trials")
    if not 0.0 <= up_share <= 1.0:
        raise ForecasterError(f"up_share={up_share} is invalid; expected a share from 0 to 1")
    if trials == 0:
        return {"accuracy": np.nan, "p_vs_half": np.nan, "p_vs_always_up": np.nan}
    always_up = max(up_share, 1.0 - up_share)
    return {
        "accuracy": hits / trials,
        "p_vs_half": float(scipy_stats.binomtest(hits, trials, p=0.5, alternative="greater").pvalue),
        "p_vs_always_up": float(scipy_stats.binomtest(hits, trials, p=always_up, alternative="greater").pvalue),
    }


def summarise(values, *, confidence: float = 0.95) -> dict[str, float]:
    """Mean, sample std (ddof=1), count and a Student-t confidence interval for the mean, ignoring NaNs.

    One value: std 0 and the interval collapses to the mean. No values (or all NaN): NaNs and count 0.
    """
    if not 0.0 < confidence < 1.0:
        raise ForecasterError(f"confidence={confidence} is invalid; expected a level strictly between 0 and 1")
    array = np.asarray(values, dtype=float).ravel()
    array = array[~np.isnan(array)]
    count = len(array)
    if count == 0:
        return {"mean": np.nan, "std": np.nan, "count": 0, "ci_low": np.nan, "ci_high": np.nan}
    mean = float(array.mean())
    if count == 1:
        return {"mean": mean, "std": 0.0, "count": 1, "ci_low": mean, "ci_high": mean}
    std = float(array.std(ddof=1))
    # Two-sided interval: mean +- t_{(1 + confidence)/2, n - 1} * std / sqrt(n).
    half_width = float(scipy_stats.t.ppf((1.0 + confidence) / 2.0, df=count - 1)) * std / np.sqrt(count)
    return {"mean": mean, "std": std, "count": count, "ci_low": mean - half_width, "ci_high": mean + half_width}


def _as_misses(misses) -> np.ndarray:
    """A 1-D bool array from bools (or 0/1 values), or a ForecasterError naming ``misses``."""
    array = np.asarray(misses)
    if array.ndim != 1:
        raise ForecasterError(f"misses has shape {array.shape}; expected a 1-D array of bools in time order")
    if array.dtype != bool:
        if array.size and not np.isin(array, (0, 1)).all():
            raise ForecasterError("misses holds values other than True/False (or 1/0); expected one bool per point")
        array = array.astype(bool)
    return array


def _check_miss_rate(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)) or not 0.0 < alpha < 1.0:
        raise ForecasterError(f"alpha={alpha!r} is invalid; expected the nominal miss rate strictly between 0 and 1 (0.05 for 95%)")
    return float(alpha)


def _bernoulli_log_likelihood(hits: float, trials: float, probability: float) -> float:
    """log(p^x (1 - p)^(n - x)) with 0 * log(0) = 0, so that p = 0 or 1 is fine when it fits the counts."""
    return float(scipy_special.xlogy(hits, probability) + scipy_special.xlogy(trials - hits, 1.0 - probability))


def kupiec_test(misses, alpha: float) -> dict[str, float]:
    """Kupiec (1995) proportion-of-failures test: is the miss rate ``alpha``? Chi-squared with 1 df.

    With n points, x misses and pi = x / n: LR_uc = -2 [log L(alpha) - log L(pi)], where
    log L(p) = x log p + (n - x) log(1 - p) and 0 * log(0) = 0, so no misses gives LR_uc = -2 n log(1 - alpha)
    and all misses -2 n log(alpha). Both directions reject (too many misses and too few). No points: the
    counts are 0 and every other value NaN.
    """
    misses = _as_misses(misses)
    alpha = _check_miss_rate(alpha)
    count, missed = len(misses), int(misses.sum())
    if count == 0:
        return {"count": 0, "misses": 0, "miss_rate": np.nan, "statistic": np.nan, "p_value": np.nan}
    miss_rate = missed / count
    statistic = -2.0 * (_bernoulli_log_likelihood(missed, count, alpha) - _bernoulli_log_likelihood(missed, count, miss_rate))
    statistic = statistic if statistic > 0 else 0.0  # >= 0 in exact arithmetic (the MLE maximises L): clip rounding
    return {
        "count": count, "misses": missed, "miss_rate": miss_rate,
        "statistic": statistic, "p_value": float(scipy_stats.chi2.sf(statistic, df=1)),
    }


def christoffersen_test(misses) -> dict[str, float]:
    """Christoffersen (1998) test of independence: do misses cluster? Chi-squared with 1 df.

    n_ij counts the steps t = 2..n that go from state i at t - 1 to state j at t (1 = miss). Under the
    alternative, a first-order Markov chain with pi_01 = n01 / (n00 + n01) and pi_11 = n11 / (n10 + n11);
    under independence, one rate pi = (n01 + n11) / (n00 + n01 + n10 + n11) over the same n - 1 steps:

        LR_ind = -2 [log L(pi) - log L(pi_01, pi_11)],   0 * log(0) = 0

    Degenerate cases give a NaN statistic and p-value, with the counts still returned: fewer than 2 points
    (no step), and no step out of one state: n10 + n11 = 0 (no miss before the last point, e.g. no misses
    at all) or n00 + n01 = 0 (every point before the last is a miss). There the rate out of that state
    cannot be estimated, the alternative collapses onto the null and LR_ind is 0 by construction, not by
    evidence; a p-value of 1 would read as "misses are independent", so we report NaN (not testable).
    """
    misses = _as_misses(misses)
    previous, current = misses[:-1], misses[1:]
    n00, n01 = int(np.sum(~previous & ~current)), int(np.sum(~previous & current))
    n10, n11 = int(np.sum(previous & ~current)), int(np.sum(previous & current))
    counts = {"n00": n00, "n01": n01, "n10": n10, "n11": n11}
    if n00 + n01 == 0 or n10 + n11 == 0:  # also covers fewer than 2 points (no step at all)
        return {"statistic": np.nan, "p_value": np.nan, **counts}
    from_hit, from_miss, steps = n00 + n01, n10 + n11, len(current)
    restricted = _bernoulli_log_likelihood(n01 + n11, steps, (n01 + n11) / steps)
    unrestricted = _bernoulli_log_likelihood(n01, from_hit, n01 / from_hit) + _bernoulli_log_likelihood(n11, from_miss, n11 / from_miss)
    statistic = -2.0 * (restricted - unrestricted)
    statistic = statistic if statistic > 0 else 0.0  # >= 0 in exact arithmetic (nested models): clip rounding
    return {"statistic": statistic, "p_value": float(scipy_stats.chi2.sf(statistic, df=1)), **counts}


def conditional_coverage_test(misses, alpha: float) -> dict[str, float]:
    """Christoffersen (1998) joint test of coverage and independence: LR_cc = LR_uc + LR_ind, chi-squared 2 df.

    LR_uc is ``kupiec_test`` on all n points and LR_ind ``christoffersen_test`` on the n - 1 steps, added as
    is the usual practice; Christoffersen's identity LR_cc = LR_uc + LR_ind is exact when LR_uc also drops
    the first point, so the two readings differ by that one point. NaN wherever LR_ind is NaN (a test of
    coverage alone is still ``kupiec_test``). Keys: ``statistic``, ``p_value``, ``uc_statistic``,
    ``ind_statistic``.
    """
    unconditional, independence = kupiec_test(misses, alpha), christoffersen_test(misses)
    statistic = unconditional["statistic"] + independence["statistic"]
    p_value = np.nan if np.isnan(statistic) else float(scipy_stats.chi2.sf(statistic, df=2))
    return {"statistic": float(statistic), "p_value": p_value,
            "uc_statistic": unconditional["statistic"], "ind_statistic": independence["statistic"]}
