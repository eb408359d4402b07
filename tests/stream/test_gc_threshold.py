"""The worker's young-generation GC threshold comes from SENTISTREAM_GC_YOUNG_THRESHOLD (in this
process); the older generations' thresholds stay CPython's, and a threshold that would switch
automatic collection off (0) is refused with the setting's name."""

from __future__ import annotations

import gc

import pytest

from sentistream.errors import ConfigError
from sentistream.settings import Settings
from sentistream.settings_check import check_settings
from stream.worker.main import apply_gc_threshold


def test_the_young_threshold_is_the_settings_and_the_others_stay() -> None:
    before = gc.get_threshold()
    try:
        apply_gc_threshold(Settings(gc_young_threshold=50_000))
        assert gc.get_threshold() == (50_000, *before[1:])
        apply_gc_threshold(Settings())
        assert gc.get_threshold() == (700, *before[1:])  # CPython's own default
    finally:
        gc.set_threshold(*before)


@pytest.mark.parametrize("value", [0, -1, 10_000_001])
def test_a_threshold_that_would_stop_or_starve_collection_is_refused(value: int) -> None:
    with pytest.raises(ConfigError, match="SENTISTREAM_GC_YOUNG_THRESHOLD"):
        check_settings(Settings(gc_young_threshold=value))
