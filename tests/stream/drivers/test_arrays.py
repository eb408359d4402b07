"""The drivers' int64 set operations give np.unique's results."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.drivers import arrays
from stream.drivers.arrays import run_bounds, sorted_unique, string_codes, unique_inverse

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


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=6), max_size=60))
def test_string_codes_are_the_sorted_distinct_strings_and_each_ones_index(values: list[str]
                                                                          ) -> None:
    names, codes = string_codes(values)
    assert names == sorted(set(values))
    assert [names[c] for c in codes.tolist()] == values  # trailing NULs kept, unlike numpy's
    assert codes.dtype == np.int64 and len(codes) == len(values)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2000), min_size=64, max_size=600),
       st.sampled_from([0, -(2**63), 2**63 - 2001, 1_700_000_000 * 4]))
def test_dense_keys_take_the_table_path_and_still_equal_np_unique(offsets: list[int],
                                                                  base: int) -> None:
    # The drivers' (group, bucket) keys are dense: those take a boolean table instead of a
    # sort (``arrays._dense``), at either end of the int64 range too.
    array = np.array(offsets, np.int64) + np.int64(base)
    assert arrays._dense(array) is not None
    expected, expected_inverse = np.unique(array, return_inverse=True)
    assert sorted_unique(array).tolist() == expected.tolist()
    got, inverse = unique_inverse(array)
    assert got.tolist() == expected.tolist()
    assert inverse.tolist() == expected_inverse.reshape(-1).tolist()
    assert got.dtype == inverse.dtype == sorted_unique(array).dtype == np.int64


@settings(max_examples=300, deadline=None)
@given(int64s)
def test_run_bounds_cover_the_runs_of_equal_values_in_order(values: list[int]) -> None:
    grouped = np.sort(np.array(values, np.int64))
    starts, ends = run_bounds(grouped)
    assert starts.dtype == ends.dtype == np.int64
    runs = [grouped[lo:hi].tolist() for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True)]
    assert [x for run in runs for x in run] == grouped.tolist()  # every value, once, in order
    assert all(run and len(set(run)) == 1 for run in runs)  # each run one value
    assert len(runs) == len(set(values))  # and each value one run
