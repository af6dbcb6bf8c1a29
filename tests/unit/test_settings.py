from datetime import timedelta
from pathlib import Path

import pytest

from pipeline.settings import Secret, Settings, SettingsError, parse_bool


def test_defaults_name_the_public_topics() -> None:
    settings = Settings.from_env({})
    assert settings.topic("raw") == "news.raw"
    assert settings.topic("deadletter") == "news.deadletter"
    assert settings.raw_partitions == 4
    assert settings.web_host == "127.0.0.1"


def test_environment_is_read_and_converted() -> None:
    settings = Settings.from_env(
        {
            "NEWSFEED_BROKER": "kafka://k1:9092;kafka://k2:9092",
            "NEWSFEED_TOPIC_PREFIX": "staging",
            "NEWSFEED_RAW_PARTITIONS": "8",
            "NEWSFEED_DEDUPE_WINDOW_DAYS": "2.5",
            "NEWSFEED_WEB_ENABLED": "off",
            "NEWSFEED_DATA_DIR": "/var/lib/newsfeed",
            "HOME": "/root",
        }
    )
    assert settings.topic("search") == "staging.search"
    assert settings.raw_partitions == 8
    assert settings.dedupe_window == timedelta(days=2.5)
    assert settings.web_enabled is False
    assert settings.data_dir == Path("/var/lib/newsfeed")


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("TRUE", True), ("yes", True), ("0", False), ("off", False)]
)
def test_booleans_are_parsed(raw: str, expected: bool) -> None:
    assert parse_bool("X", raw) is expected


def test_a_non_boolean_is_an_error_not_true() -> None:
    with pytest.raises(SettingsError, match="NEWSFEED_WEB_ENABLED"):
        Settings.from_env({"NEWSFEED_WEB_ENABLED": "maybe"})


def test_unknown_variable_is_rejected() -> None:
    with pytest.raises(SettingsError, match="NEWSFEED_BROKRE"):
        Settings.from_env({"NEWSFEED_BROKRE": "kafka://x:1"})


def test_bad_number_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="NEWSFEED_RAW_PARTITIONS"):
        Settings.from_env({"NEWSFEED_RAW_PARTITIONS": "four"})


def test_out_of_range_values_are_rejected() -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({"NEWSFEED_RAW_PARTITIONS": "0"})
    with pytest.raises(SettingsError):
        Settings.from_env({"NEWSFEED_LOG_FORMAT": "xml"})


def test_password_is_a_secret_that_never_shows() -> None:
    settings = Settings.from_env({"NEWSFEED_SASL_PASSWORD": "hunter2", "NEWSFEED_SASL_USERNAME": "svc"})
    assert isinstance(settings.sasl_password, Secret)
    assert settings.sasl_password.get() == "hunter2"
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.sasl_password)


def test_settings_are_frozen() -> None:
    settings = Settings.from_env({})
    with pytest.raises(AttributeError):
        settings.broker = "kafka://elsewhere:9092"  # type: ignore[misc]


def test_worker_role_is_one_of_the_known_ones() -> None:
    assert Settings.from_env({}).worker_role == "all"
    assert Settings.from_env({"NEWSFEED_WORKER_ROLE": "dedupe"}).worker_role == "dedupe"
    with pytest.raises(SettingsError, match="NEWSFEED_WORKER_ROLE"):
        Settings.from_env({"NEWSFEED_WORKER_ROLE": "both"})


def test_event_loop_is_uvloop_unless_told_and_one_of_the_known_ones() -> None:
    assert Settings.from_env({}).event_loop == "uvloop"
    assert Settings.from_env({"NEWSFEED_EVENT_LOOP": "asyncio"}).event_loop == "asyncio"
    with pytest.raises(SettingsError, match="NEWSFEED_EVENT_LOOP"):
        Settings.from_env({"NEWSFEED_EVENT_LOOP": "trio"})


def test_intake_batches_are_bounded_and_must_wait_a_while() -> None:
    settings = Settings.from_env({"NEWSFEED_INTAKE_BATCH_ITEMS": "32", "NEWSFEED_INTAKE_BATCH_MS": "2.5"})
    assert (settings.intake_batch_items, settings.intake_batch_ms) == (32, 2.5)
    with pytest.raises(SettingsError, match="NEWSFEED_INTAKE_BATCH_ITEMS"):
        Settings.from_env({"NEWSFEED_INTAKE_BATCH_ITEMS": "0"})
    with pytest.raises(SettingsError, match="NEWSFEED_INTAKE_BATCH_MS"):
        Settings.from_env({"NEWSFEED_INTAKE_BATCH_MS": "0"})  # Faust would then wait for a full batch
    assert Settings.from_env({"NEWSFEED_DEDUPE_BATCH_MESSAGES": "8"}).dedupe_batch_messages == 8
    with pytest.raises(SettingsError, match="NEWSFEED_DEDUPE_BATCH_MESSAGES"):
        Settings.from_env({"NEWSFEED_DEDUPE_BATCH_MESSAGES": "0"})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NEWSFEED_PRODUCER_BATCH_BYTES", "100"),
        ("NEWSFEED_PRODUCER_LINGER_MS", "-1"),
        ("NEWSFEED_FETCH_MAX_WAIT_MS", "-5"),
        ("NEWSFEED_DEDUPE_WINDOW_DAYS", "0"),
        ("NEWSFEED_ITEM_TIMEOUT_SECONDS", "nan"),
        ("NEWSFEED_COMMIT_INTERVAL_SECONDS", "0"),
        ("NEWSFEED_MAX_BODY_CHARS", "0"),
        ("NEWSFEED_INDEX_COMMIT_SECONDS", "0"),
        ("NEWSFEED_INDEX_COMMIT_ITEMS", "0"),
    ],
)
def test_sizes_and_durations_out_of_range_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: value})


def test_zero_waits_are_allowed_where_zero_means_no_wait() -> None:
    settings = Settings.from_env({"NEWSFEED_PRODUCER_LINGER_MS": "0", "NEWSFEED_FETCH_MAX_WAIT_MS": "0"})
    assert (settings.producer_linger_ms, settings.fetch_max_wait_ms) == (0, 0)


def test_the_search_index_lives_under_the_data_dir_unless_told() -> None:
    default = Settings.from_env({"NEWSFEED_DATA_DIR": "/var/lib/newsfeed", "NEWSFEED_APP_ID": "nf"})
    assert default.search_index_dir == Path("/var/lib/newsfeed/index")
    assert default.search_index_group == "nf-index"
    told = Settings.from_env({"NEWSFEED_INDEX_DIR": "/srv/index", "NEWSFEED_INDEX_GROUP": "box2-index"})
    assert told.search_index_dir == Path("/srv/index")
    assert told.search_index_group == "box2-index"
    assert Settings.from_env({"NEWSFEED_INDEX_COMMIT_ITEMS": "500"}).index_commit_items == 500
