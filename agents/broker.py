"""Talking to the broker from a command: start a client or say in one line why the broker cannot be reached.

Every command that connects (replay, poll, subscribe, topics, reprocess, and the commands to come) starts
its Kafka clients with ``started`` and runs under ``run_command``: a broker that does not answer becomes one
line on stderr naming the broker and what to check, and a non-zero exit, never a traceback or an unclosed
client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from pipeline.settings import Settings

EXIT_UNREACHABLE = 3
"""Exit status of a command that could not reach the broker (2 is a usage or input error)."""


def unreachable_errors() -> tuple[type[BaseException], ...]:
    """What aiokafka raises when no broker answers (at start, or when it goes away mid-command).

    A function, so that importing this module (``newsfeed`` does, for every command) does not load aiokafka.
    """
    from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError

    return (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError, ConnectionError,
            TimeoutError)  # fmt: skip


T = TypeVar("T")


class BrokerUnreachableError(RuntimeError):
    """No broker answered at the configured address."""


def unreachable(settings: Settings, error: BaseException | None = None) -> BrokerUnreachableError:
    """The error for ``settings``' broker, with the one line an operator needs."""
    from agents.clients import bootstrap_servers

    servers = ",".join(bootstrap_servers(settings)) or settings.broker
    cause = f" ({type(error).__name__})" if error is not None else ""
    return BrokerUnreachableError(
        f"cannot reach the Kafka broker at {servers}{cause}: check that it is running and that "
        f"NEWSFEED_BROKER (and NEWSFEED_SECURITY_PROTOCOL, if it uses TLS or SASL) point at it"
    )


async def _close(client: Any) -> None:
    closer = getattr(client, "stop", None) or client.close
    with contextlib.suppress(Exception):
        await closer()


async def start_client(client: Any, settings: Settings) -> None:
    """Start an aiokafka producer, consumer or admin client; when the broker does not answer, close it again.

    Raises:
        BrokerUnreachableError: the broker did not answer; the client is closed (no "Unclosed" warning).
    """
    # aiokafka logs each refused connection as an error; the command says it once, in its own words.
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        await client.start()
    except unreachable_errors() as error:
        await _close(client)
        raise unreachable(settings, error) from None
    except BaseException:
        await _close(client)
        raise
    finally:
        quiet.setLevel(level)


@contextlib.asynccontextmanager
async def started(client: T, settings: Settings) -> AsyncIterator[T]:
    """Start an aiokafka producer, consumer or admin client; close it on the way out, whatever happened.

    Raises:
        BrokerUnreachableError: the broker did not answer; the client is closed (no "Unclosed" warning).
    """
    await start_client(client, settings)
    try:
        yield client
    except unreachable_errors() as error:
        raise unreachable(settings, error) from None
    finally:
        await _close(client)


def run_command(settings: Settings, command: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine to its end.

    Raises:
        BrokerUnreachableError: for any way aiokafka says the broker is not there (``newsfeed`` prints it
            as one line and exits with ``EXIT_UNREACHABLE``).
    """
    try:
        return asyncio.run(command)
    except unreachable_errors() as error:
        raise unreachable(settings, error) from None
