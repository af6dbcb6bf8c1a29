"""The Faust app is built from the settings alone: credentials, bind address, topics and the fetch wait."""

from __future__ import annotations

import gc
import io
import logging
from collections.abc import Iterator

import pytest
import structlog

from agents.app import build_app, client_options, declare_tables, declare_topics, group_id
from agents.logs import configure_logging
from agents.transport import Transport
from pipeline.settings import Settings

# faust's app and consumer services make event loops of their own that they never close; collect them here,
# where the warning is expected, rather than in whichever later test the garbage collector happens to run.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(autouse=True)
def _collect_faust_loops() -> Iterator[None]:
    yield
    gc.collect()


SASL = {
    "NEWSFEED_BROKER": "kafka://k1.example:9094;kafka://k2.example:9094",
    "NEWSFEED_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "NEWSFEED_SASL_MECHANISM": "SCRAM-SHA-512",
    "NEWSFEED_SASL_USERNAME": "svc-newsfeed",
    "NEWSFEED_SASL_PASSWORD": "s3cret-value",
}


def test_sasl_settings_pass_through_without_showing_the_password() -> None:
    settings = Settings.from_env(SASL)
    app = build_app(settings)
    credentials = app.conf.broker_credentials
    assert credentials.username == "svc-newsfeed"
    assert credentials.password == "s3cret-value"
    assert "s3cret-value" not in repr(credentials)
    assert "s3cret-value" not in repr(settings)
    options = client_options(settings)
    assert options["bootstrap_servers"] == ["k1.example:9094", "k2.example:9094"]
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_password"] == "s3cret-value"


def test_logging_settings_never_prints_the_secret() -> None:
    settings = Settings.from_env(SASL)
    stream = io.StringIO()
    configure_logging("INFO", "json")
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)  # type: ignore[attr-defined]
    structlog.get_logger("test").info("settings_loaded", settings=settings, password=settings.sasl_password)
    logging.getLogger("faust").info("conf %r", build_app(settings).conf.broker_credentials)
    assert "settings_loaded" in stream.getvalue()
    assert "s3cret-value" not in stream.getvalue()


def test_web_server_binds_where_the_settings_say() -> None:
    app = build_app(Settings.from_env({"NEWSFEED_WEB_PORT": "7001"}))
    assert app.conf.web_bind == "127.0.0.1"
    assert app.conf.web_port == 7001


def test_topics_follow_the_prefix_and_partitions() -> None:
    settings = Settings.from_env({"NEWSFEED_TOPIC_PREFIX": "staging", "NEWSFEED_RAW_PARTITIONS": "6"})
    app = build_app(settings)
    topics = declare_topics(app, settings)
    assert topics.raw.get_topic_name() == "staging.raw"
    assert topics.raw.partitions == 6
    assert topics.deadletter.get_topic_name() == "staging.deadletter"
    tables = declare_tables(app, settings)
    assert tables.items.changelog_topic.get_topic_name() == "newsfeed-dedupe-items-changelog"


async def test_the_worker_consumer_takes_its_fetch_wait_from_the_settings() -> None:
    app = build_app(Settings.from_env({"NEWSFEED_FETCH_MAX_WAIT_MS": "50"}))
    assert isinstance(app.transport, Transport)
    consumer = app.consumer
    thread = consumer._new_consumer_thread()
    client = thread._create_worker_consumer(app.transport)
    assert client._fetch_max_wait_ms == 50


def test_json_logs_take_mappings_keyed_by_numbers() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json")
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)  # type: ignore[attr-defined]
    structlog.get_logger("test").info("group_moved", offsets={0: 12, 3: None})
    assert '"offsets":{"0":12,"3":null}' in stream.getvalue()


@pytest.mark.parametrize(
    ("role", "group"), [("all", "newsfeed"), ("dedupe", "newsfeed"), ("intake", "newsfeed-intake")]
)
def test_intake_workers_form_a_group_of_their_own(role: str, group: str) -> None:
    settings = Settings.from_env({"NEWSFEED_WORKER_ROLE": role})
    assert group_id(settings) == group
    assert build_app(settings).conf.id == group
