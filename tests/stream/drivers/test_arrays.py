"""The drivers' int64 set operations give np.unique's results."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.drivers.arrays import sorted_unique, unique_inverse

int64s = st.lists(st.one_of(st.integers(-5, 5), st.integers(-(2**63), 2**63 - 1)), max_size=300)


@settings(max_examples=300, deadline=None)
@given(int64s)
def test_sorted_unique_and_unique_inverse_equal_np_unique(values: list[int]) -> None:
    array = np.array(values, np.int64)
    expected, expected_inverse = np.unique(array, return_inverse=True)
    assert sorted_unique(array).tolist() == expected.tolist()
    got, inverse = unique_inverse(array)
    assert got.tolist() == expected.tolist()
    assert inverse.tolist() == expected_inverse.reshape(-1).tolist()
    assert got.dtype == inverse.dtype == np.int64
