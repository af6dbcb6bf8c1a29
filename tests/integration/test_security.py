"""The worker and the commands against a real secured listener: SASL_SSL with SCRAM-SHA-512.

A broker of its own (not the suite's plain one) is started by ``scripts/kafka.sh`` with ``KAFKA_SECURITY=SASL_SSL``:
a CA and a broker certificate made with openssl in the test's temporary directory, and the SCRAM user created when
its storage is formatted. Set ``KAFKA_SECURE_PORT`` to pin its port (the controller takes the next one).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from pipeline.settings import Settings
from tests.conftest import key_of
from tests.integration.conftest import NEWSFEED, ROOT, Stack, Worker, _free_port

pytestmark = pytest.mark.integration

_USER = "newsfeed"
_REFUSED = f"refused the credentials of user '{_USER}' (SCRAM-SHA-512)"
_COMMAND_TIMEOUT = 90


@dataclass(frozen=True)
class SecuredBroker:
    """Where the secured broker listens and what a client needs to be let in."""

    url: str
    cafile: Path
    password: str
    script_output: str


@pytest.fixture(scope="module")
def secured_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    """A SASL_SSL broker started by ``scripts/kafka.sh up`` (which returns once it answers), stopped after."""
    state = tmp_path_factory.mktemp("secured-kafka")
    pinned = os.environ.get("KAFKA_SECURE_PORT")
    port = int(pinned) if pinned else _free_port()
    controller = port + 1 if pinned else _free_port()
    password = secrets.token_hex(16)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("KAFKA_", "NEWSFEED_"))} | {
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(controller),
        "KAFKA_STATE": str(state),
        "KAFKA_SECURITY": "SASL_SSL",
        "KAFKA_SCRAM_USER": _USER,
        "KAFKA_SCRAM_PASSWORD": password,
        "KAFKA_HEAP": "256m",
    }
    if "KAFKA_HOME" in os.environ:
        env["KAFKA_HOME"] = os.environ["KAFKA_HOME"]  # where the jars are cached
    script = ROOT / "scripts" / "kafka.sh"
    up = subprocess.run([script, "up"], env=env, capture_output=True, text=True, check=False)
    try:
        assert up.returncode == 0, f"the secured broker did not start:\n{up.stderr}"
        yield SecuredBroker(
            url=f"kafka://127.0.0.1:{port}",
            cafile=state / f"ssl-{port}" / "ca.crt",
            password=password,
            script_output=up.stdout + up.stderr,
        )
    finally:
        subprocess.run([script, "down"], env=env, capture_output=True, check=False)


def _stack(broker: SecuredBroker, workdir: Path, password: str) -> Stack:
    """A deployment with its own prefix and group that reaches the secured broker with ``password``."""
    tag = uuid.uuid4().hex[:10]
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSFEED_")} | {
        "NEWSFEED_BROKER": broker.url,
        "NEWSFEED_SECURITY_PROTOCOL": "SASL_SSL",
        "NEWSFEED_SASL_MECHANISM": "SCRAM-SHA-512",
        "NEWSFEED_SASL_USERNAME": _USER,
        "NEWSFEED_SASL_PASSWORD": password,
        "NEWSFEED_SSL_CAFILE": str(broker.cafile),
        "NEWSFEED_TOPIC_PREFIX": f"s{tag}",
        "NEWSFEED_APP_ID": f"newsfeed-s{tag}",
        "NEWSFEED_RAW_PARTITIONS": "2",
        "NEWSFEED_LOG_FORMAT": "json",
        # Debug lines of newsfeed, faust and aiokafka too: the password must be absent from those as well.
        "NEWSFEED_LOG_LEVEL": "DEBUG",
    }
    workdir.mkdir(parents=True, exist_ok=True)
    settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("NEWSFEED_")})
    return Stack(env=env, settings=settings, workdir=workdir)


def _command(stack: Stack, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(NEWSFEED), *args],
        env=stack.env,
        cwd=stack.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=_COMMAND_TIMEOUT)
    return process.returncode, stdout, stderr


def test_an_item_replayed_over_sasl_ssl_comes_out_on_search_through_a_secured_worker(
    secured_broker: SecuredBroker, tmp_path: Path, make_item
) -> None:
    stack = _stack(secured_broker, tmp_path / "ok", secured_broker.password)
    created = _finish(_command(stack, "topics", "create"))
    assert created[0] == 0, created[2]
    worker = Worker(stack, "secured")
    stack.workers.append(worker)
    try:
        worker.wait_ready()
        item_id = f"sasl-{uuid.uuid4().hex[:8]}"
        feed = stack.workdir / "feed.jsonl"
        feed.write_bytes(orjson.dumps(make_item(id=item_id)) + b"\n")
        # Both at once (subscribe reads from the beginning): the subscriber exits on the first article.
        subscribing = _command(
            stack, "subscribe", "search", "--from-beginning", "--max-messages", "1", "--timeout", "60"
        )
        replayed = _finish(_command(stack, "replay", "--no-progress", str(feed)))
        subscribed = _finish(subscribing)
        assert replayed[0] == 0, replayed[2]
        assert orjson.loads(replayed[1].splitlines()[-1])["sent"] == 1
        assert subscribed[0] == 0, subscribed[2]
    finally:
        worker.stop()
    assert subscribed[1].strip(), f"nothing came out on search within 60 s:\n{worker.tail()}"
    article = orjson.loads(subscribed[1].splitlines()[0])
    assert article["key"] == key_of(make_item(id=item_id))
    assert article["value"]["replay"] is True
    assert article["value"]["title"] == "Trade talks end without deal"

    # The worker logged at debug level (aiokafka's connection lines among them) and never the password.
    worker_log = "".join(worker.lines)
    assert f"Authenticated as {_USER} via SCRAM-SHA-512" in worker_log
    outputs = [worker_log, *created[1:], *replayed[1:], *subscribed[1:], secured_broker.script_output]
    assert all(secured_broker.password not in output for output in outputs)


def test_a_wrong_password_or_an_untrusted_broker_stops_each_command_with_a_clear_error(
    secured_broker: SecuredBroker, tmp_path: Path
) -> None:
    wrong = secrets.token_hex(16)
    stack = _stack(secured_broker, tmp_path / "wrong", wrong)
    feed = stack.workdir / "feed.jsonl"
    feed.write_text('{"id": "never-sent", "body": "Some text."}\n')
    # The right password, but a CA that did not sign the broker's certificate: refused before SASL starts.
    untrusted = _stack(secured_broker, tmp_path / "untrusted", secured_broker.password)
    other_ca = tmp_path / "other-ca.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "other-ca.key"),
         "-out", str(other_ca), "-days", "1", "-subj", "/CN=not the broker's CA"],
        capture_output=True, check=True,
    )  # fmt: skip
    untrusted.env["NEWSFEED_SSL_CAFILE"] = str(other_ca)
    # They run at once: each is refused on its first connection, whatever the others do.
    running = {
        "replay": (_command(stack, "replay", "--no-progress", str(feed)), _REFUSED),
        "subscribe": (_command(stack, "subscribe", "search", "--from-beginning", "--timeout", "60"), _REFUSED),
        "worker": (_command(stack, "worker"), _REFUSED),
        "subscribe, untrusted": (
            _command(untrusted, "subscribe", "search", "--timeout", "60"),
            "failed (SASL_SSL): [SSL: CERTIFICATE_VERIFY_FAILED]",
        ),
    }
    for name, (process, cause) in running.items():
        code, stdout, stderr = _finish(process)
        assert code == 2, f"{name} exited with {code}:\n{stderr}"
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("newsfeed: "), f"{name}: {last}"
        assert cause in last, f"{name}: {last}"
        for secret in (wrong, secured_broker.password):
            assert secret not in stdout, name
            assert secret not in stderr, name
