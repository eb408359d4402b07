from __future__ import annotations

from pathlib import Path

import pytest

from sentistream.errors import ConfigError
from sentistream.settings import Secret, Settings, describe_environment


def test_defaults_derive_addresses_from_ports() -> None:
    s = Settings.from_env({"SENTISTREAM_KAFKA_PORT": "19092", "SENTISTREAM_REDIS_PORT": "16379"})
    assert s.kafka_bootstrap == "localhost:19092"
    assert s.redis_url == "redis://localhost:16379/0"


def test_types_are_parsed() -> None:
    s = Settings.from_env({
        "SENTISTREAM_ALERT_Z": "2.5", "SENTISTREAM_STATE_DIR": "/tmp/x",
        "SENTISTREAM_API_TOKEN": "hunter2",
    })
    assert s.alert_z == 2.5
    assert s.state_dir == Path("/tmp/x")
    assert isinstance(s.api_token, Secret) and s.api_token.reveal() == "hunter2"
    assert "hunter2" not in repr(s)


def test_bool_fields_are_parsed() -> None:
    assert Settings.from_env({"SENTISTREAM_DRIVERS": "false"}).drivers is False
    assert Settings.from_env({"SENTISTREAM_DRIVERS": " On "}).drivers is True
    assert Settings.from_env({}).drivers is True
    with pytest.raises(ConfigError, match="SENTISTREAM_DRIVERS='maybe'"):
        Settings.from_env({"SENTISTREAM_DRIVERS": "maybe"})


def test_bad_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="SENTISTREAM_PARTITIONS='many'"):
        Settings.from_env({"SENTISTREAM_PARTITIONS": "many"})


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().partitions = 3  # type: ignore[misc]


def test_every_field_is_documented() -> None:
    text = describe_environment()
    for name in ("SENTISTREAM_KAFKA_BOOTSTRAP", "SENTISTREAM_REDIS_URL", "SENTISTREAM_STATE_DIR",
                 "SENTISTREAM_TOPIC_POSTS", "SENTISTREAM_API_TOKEN"):
        assert name in text


def test_to_env_round_trips_through_from_env() -> None:
    s = Settings(kafka_port=19999, alert_z=2.5, state_dir=Path("/tmp/x"),
                 api_token=Secret("hunter2"))
    assert Settings.from_env(s.to_env()) == s


# -- validated at start-up --
@pytest.mark.parametrize(("env", "named", "allowed"), [
    ({"SENTISTREAM_BATCH_SIZE": "0"}, "SENTISTREAM_BATCH_SIZE=0", ">= 1"),
    ({"SENTISTREAM_API_PORT": "70000"}, "SENTISTREAM_API_PORT=70000", "1 to 65535"),
    ({"SENTISTREAM_ALERT_METRIC": "mood"}, "SENTISTREAM_ALERT_METRIC='mood'", "nss, intensity"),
    ({"SENTISTREAM_ALERT_MIN_BASELINE": "40"}, "SENTISTREAM_ALERT_MIN_BASELINE=40",
     "between 1 and SENTISTREAM_ALERT_BASELINE_BUCKETS"),
    ({"SENTISTREAM_ALERT_WEBHOOK_URL": "ftp://x"}, "SENTISTREAM_ALERT_WEBHOOK_URL='ftp://x'",
     "http(s) URL"),
    ({"SENTISTREAM_ALERT_Z": "0"}, "SENTISTREAM_ALERT_Z=0.0", "> 0"),
    # Above the broker's message.max.bytes, every produce of a full batch would be refused.
    ({"SENTISTREAM_PRODUCE_BATCH_BYTES": "1048576"}, "SENTISTREAM_PRODUCE_BATCH_BYTES=1048576",
     "16384 to 1000000"),
    ({"SENTISTREAM_PRODUCE_COMPRESSION": "brotli"}, "SENTISTREAM_PRODUCE_COMPRESSION='brotli'",
     "one of none, gzip, snappy, lz4, zstd"),
    # sys.setswitchinterval refuses 0; the broker, a fetch wait of 0 (a busy loop of fetches).
    ({"SENTISTREAM_SWITCH_INTERVAL_MS": "0"}, "SENTISTREAM_SWITCH_INTERVAL_MS=0.0",
     "above 0 and at most 1000"),
    ({"SENTISTREAM_FETCH_MAX_WAIT_MS": "0"}, "SENTISTREAM_FETCH_MAX_WAIT_MS=0", "1 to 1500"),
])
def test_a_value_out_of_range_names_the_variable_and_what_it_allows(
        env: dict[str, str], named: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert named in str(caught.value) and allowed in str(caught.value)


def test_every_bad_variable_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"SENTISTREAM_PARTITIONS": "0", "SENTISTREAM_TOP_POSTS": "-1"})
    assert "SENTISTREAM_PARTITIONS" in str(caught.value)
    assert "SENTISTREAM_TOP_POSTS" in str(caught.value)


def test_a_password_in_a_bad_url_setting_is_not_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"SENTISTREAM_ALERT_WEBHOOK_URL": "ftp://u:hunter2@x"})
    assert "hunter2" not in str(caught.value)


def test_the_defaults_are_valid() -> None:
    Settings()


# -- why's baseline against the hour retention --
DAY = 86400


def test_an_hour_retention_shorter_than_whys_reach_is_refused_with_what_to_do() -> None:
    # 7 baseline days + the window's first day + a 7-day window: 15 days of hour term sets.
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"SENTISTREAM_RETENTION_HOUR_S": str(10 * DAY)})
    message = str(caught.value)
    assert f"SENTISTREAM_RETENTION_HOUR_S={10 * DAY}" in message
    assert f"{15 * DAY}" in message  # the least it takes, in the variable's own unit
    for remedy in ("SENTISTREAM_WHY_BASELINE_DAYS", "SENTISTREAM_DRIVERS=false"):
        assert remedy in message
    with pytest.raises(ConfigError, match="SENTISTREAM_RETENTION_HOUR_S"):
        Settings(why_baseline_days=60, retention_hour_s=67 * DAY)


def test_an_hour_retention_that_covers_whys_reach_is_accepted() -> None:
    Settings(retention_hour_s=15 * DAY)
    Settings(why_baseline_days=2, retention_hour_s=10 * DAY)
    Settings(why_baseline_days=60, retention_hour_s=68 * DAY)
    # No term sets are written without drivers: why has no baseline to shorten.
    Settings(drivers=False, retention_hour_s=3600)


def test_whys_reach_assumes_the_longest_window_why_accepts() -> None:
    from sentistream.settings_check import WHY_MAX_WINDOW_S
    from stream.drivers.why import WhyPlan
    from stream.schema.keys import MAX_WHY_WINDOW_S

    assert WHY_MAX_WINDOW_S == MAX_WHY_WINDOW_S
    # The oldest hour a window of the longest kind reads, ending just before midnight (its
    # worst case), is within (baseline days + 1) days + the window of its end.
    end = 1_764_633_600 + DAY - 1
    for days in (1, 7, 60):
        plan = WhyPlan.of(end, MAX_WHY_WINDOW_S, days)
        assert end - plan.base_hours[0] <= (days + 1) * DAY + MAX_WHY_WINDOW_S
        assert end - plan.base_hours[0] > days * DAY + MAX_WHY_WINDOW_S
