"""The worker's GIL switch interval comes from SENTISTREAM_SWITCH_INTERVAL_MS (in this process)."""

from __future__ import annotations

import sys

from sentistream.settings import Settings
from stream.worker.main import apply_switch_interval


def test_the_switch_interval_is_the_settings() -> None:
    before = sys.getswitchinterval()
    try:
        apply_switch_interval(Settings(switch_interval_ms=0.5))
        assert abs(sys.getswitchinterval() - 0.0005) < 1e-9
        apply_switch_interval(Settings())
        assert abs(sys.getswitchinterval() - 0.005) < 1e-9  # CPython's own default
    finally:
        sys.setswitchinterval(before)
