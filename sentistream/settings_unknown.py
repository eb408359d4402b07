"""``SENTISTREAM_*`` variables that are not settings: warned about once, never fatal.

A misspelt variable (``SENTISTREAM_REDIS_PORT`` typed ``..._PROT``) or one a release retired
(``SENTISTREAM_DRIVER_TERMS_DAY``) was ignored in silence, so the user believed it applied. Each
is now named in one warning with the setting it most resembles, or why it is gone; the process
still starts, so a deployment that keeps an old variable is not broken by an upgrade.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Collection, Mapping

log = logging.getLogger("sentistream.settings")

# Names with the prefix that are read on purpose outside the settings. The one list of them:
# tests/core/test_unknown_env.py fails when the repository reads a prefixed name that is neither
# a setting nor listed here (a warning on every run would teach users to ignore warnings).
NOT_SETTINGS = frozenset({
    "SENTISTREAM_TEST_REQUIRE_SERVICES",  # tests/conftest.py: no Kafka/Redis fails, never skips
    "SENTISTREAM_VENV",  # ops/lib.sh: the virtualenv the ops scripts run
    "SENTISTREAM_PUBLISHED_API_PORT",  # docker-compose.yml: host port the API is published on
})

# Settings that were removed, and why: their closest live name would be the wrong advice
# (SENTISTREAM_DRIVER_TERMS_HOUR for SENTISTREAM_DRIVER_TERMS_DAY).
RETIRED = {
    "SENTISTREAM_DRIVER_TERMS_DAY": "the worker keeps no day term sets since 2026-12-02; `why` "
                                    "sums hour sets (SENTISTREAM_DRIVER_TERMS_HOUR)",
    "SENTISTREAM_BATCH_WITHIN": "a batch is one Kafka fetch, no wait to fill it "
                                "(SENTISTREAM_BATCH_SIZE caps it)",
}

_warned: set[str] = set()  # once per process, however often settings are built


def unknown_variables(environ: Mapping[str, str], prefix: str,
                      known: Collection[str]) -> dict[str, str]:
    """Each prefixed name of ``environ`` that is no setting -> what to tell the user."""
    problems = {}
    for name in sorted(environ):
        if not name.startswith(prefix) or name in known or name in NOT_SETTINGS:
            continue
        if name in RETIRED:
            problems[name] = f"{name} is no longer read and is ignored: {RETIRED[name]}; remove it"
            continue
        # Compared without the prefix, which every name shares and would make all look alike.
        close = difflib.get_close_matches(name[len(prefix):],
                                          [k[len(prefix):] for k in known], n=1)
        hint = f"; did you mean {prefix}{close[0]}?" if close else ""
        problems[name] = f"{name} is not a sentistream setting and is ignored{hint}"
    return problems


def warn_unknown(environ: Mapping[str, str], prefix: str, known: Collection[str]) -> None:
    """Log one warning per unknown prefixed variable, the first time this process sees it."""
    for name, message in unknown_variables(environ, prefix, known).items():
        if name not in _warned:
            _warned.add(name)
            log.warning("%s (`sentistream --help` lists the settings)", message)
