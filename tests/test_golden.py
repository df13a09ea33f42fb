"""Refactors keep numbers: two small runs give exactly the metrics and predictions in tests/golden/.

Intervals came later and change no point forecast: the golden columns are compared, the new ones are not.

The golden files were written by ``tests/golden/make_golden.py`` before the core refactor. On a CPU
of the same kind with the same torch build (``machine.json``) every value must be bit-identical;
elsewhere floating-point kernels may round differently, so the test allows a relative 1e-5 there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN))
import make_golden  # noqa: E402  (the script that wrote the files defines the cases)


def same_machine() -> bool:
    recorded = json.loads((GOLDEN / "machine.json").read_text())
    return recorded == {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("case", sorted(make_golden.CASES))
def test_a_run_repeats_the_golden_numbers(case, one_thread):
    result = make_golden.run_case(case)
    for name, frame in make_golden.tables(result).items():
        # Through the same CSV round trip as the golden file, so that both sides are parsed alike.
        path = GOLDEN / f"{case}_{name}.csv"
        expected = pd.read_csv(path)
        actual = pd.read_csv(pd.io.common.StringIO(frame.to_csv(index=False, float_format="%.17g")))
        # Columns added since (the intervals' scores and bounds) are checked by their own tests; every golden
        # column must still be there, in order, with the same values.
        assert [column for column in actual.columns if column in expected.columns] == list(expected.columns), name
        assert len(actual) == len(expected), name
        for column in expected.columns:
            want, got = expected[column], actual[column]
            if pd.api.types.is_float_dtype(want) and not same_machine():
                np.testing.assert_allclose(got, want, rtol=1e-5, equal_nan=True, err_msg=f"{case} {name} {column}")
            else:
                pd.testing.assert_series_equal(got, want, check_exact=True, obj=f"{case} {name} {column}")
