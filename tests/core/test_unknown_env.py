"""Unknown SENTISTREAM_* variables: warned about once, by name, with the closest known one."""

from __future__ import annotations

import logging
import re
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest

from sentistream.settings import Settings, env_name
from sentistream.settings_unknown import NOT_SETTINGS, RETIRED

ROOT = Path(__file__).resolve().parents[2]
LOGGER = "sentistream.settings"


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == LOGGER and r.levelno == logging.WARNING]


def test_a_typo_is_named_with_the_closest_setting_and_the_rest_still_loads(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    s = Settings.from_env({"SENTISTREAM_REDIS_PROT": "7000", "SENTISTREAM_REDIS_PORT": "7001",
                           "SENTISTREAM_BATCH_SIZ": "12"})
    assert s.redis_port == 7001 and s.batch_size == Settings().batch_size
    found = warnings_of(caplog)
    assert len(found) == 2
    by_name = {m.split()[0]: m for m in found}
    assert "ignored" in by_name["SENTISTREAM_REDIS_PROT"]
    assert "did you mean SENTISTREAM_REDIS_PORT?" in by_name["SENTISTREAM_REDIS_PROT"]
    assert "did you mean SENTISTREAM_BATCH_SIZE?" in by_name["SENTISTREAM_BATCH_SIZ"]


def test_each_unknown_variable_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    Settings.from_env({"SENTISTREAM_PARTITONS": "3"})
    Settings.from_env({"SENTISTREAM_PARTITONS": "3"})
    found = warnings_of(caplog)
    assert len(found) == 1 and "SENTISTREAM_PARTITIONS" in found[0]


def test_a_retired_variable_says_it_is_no_longer_read(caplog: pytest.LogCaptureFixture) -> None:
    # Its closest name (SENTISTREAM_DRIVER_TERMS_HOUR) would be the wrong advice.
    caplog.set_level(logging.WARNING, LOGGER)
    Settings.from_env({"SENTISTREAM_DRIVER_TERMS_DAY": "512"})
    (found,) = warnings_of(caplog)
    assert "SENTISTREAM_DRIVER_TERMS_DAY" in found and "no longer read" in found
    assert RETIRED["SENTISTREAM_DRIVER_TERMS_DAY"] in found


def test_a_name_far_from_every_setting_is_still_named(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    Settings.from_env({"SENTISTREAM_ZZZ_QQQ": "1"})
    (found,) = warnings_of(caplog)
    assert "SENTISTREAM_ZZZ_QQQ" in found and "did you mean" not in found


def test_settings_and_names_read_elsewhere_are_not_warned_about(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    env = {env_name(f.name): "" for f in fields(Settings)}
    Settings.from_env({**env, **dict.fromkeys(NOT_SETTINGS, "1"), "OTHER_REDIS_PROT": "1"})
    assert warnings_of(caplog) == []


def test_every_prefixed_name_the_repository_uses_is_a_setting_or_allowed() -> None:
    """A new SENTISTREAM_* variable read by ops/, tests/, CI or compose belongs in
    NOT_SETTINGS, else every run that sets it would warn."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    # Prose and this file's own typos name variables nobody reads.
    files = [p for p in listed if not p.endswith(".md") and not p.endswith(Path(__file__).name)]
    # A name ends on a letter or digit not followed by more of one ("SENTISTREAM_ALERT_*" is
    # a family of settings in prose, not a variable).
    pattern = re.compile(r"SENTISTREAM_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*])")
    used = {name for path in files if (ROOT / path).is_file()
            for name in pattern.findall((ROOT / path).read_text(errors="replace"))}
    known = {env_name(f.name) for f in fields(Settings)} | NOT_SETTINGS | set(RETIRED)
    assert used - known == set()
    assert used >= NOT_SETTINGS  # no stale entries either
