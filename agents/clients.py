"""Options for plain aiokafka clients and the names derived from the settings, without importing Faust.

The commands (``replay``, ``subscribe``, ``topics``, ``index``, ``poll``...) build their clients from here: importing
``agents.app`` would load Faust, about 0.7 s of start-up for a command that never runs it.
"""

from __future__ import annotations

import ssl
from typing import Any

from pipeline.settings import Settings


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of the settings' security protocol, or None without TLS."""
    if settings.security_protocol not in {"SSL", "SASL_SSL"}:
        return None
    context = ssl.create_default_context(cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None)
    if settings.ssl_certfile:
        context.load_cert_chain(str(settings.ssl_certfile), str(settings.ssl_keyfile) if settings.ssl_keyfile else None)
    return context


def bootstrap_servers(settings: Settings) -> list[str]:
    """The broker list as ``host:port`` strings, for plain aiokafka clients."""
    servers = []
    for part in settings.broker.split(";"):
        address = part.strip().split("://", 1)[-1].rstrip("/")
        if address:
            servers.append(address if ":" in address else f"{address}:9092")
    return servers


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka producers, consumers and admin clients (CLI commands, tests)."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(settings),
        "security_protocol": settings.security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if settings.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.sasl_mechanism or "PLAIN"
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password.get() if settings.sasl_password else None
    return options


def group_id(settings: Settings, role: str | None = None) -> str:
    """The consumer group (and Faust app id) of a worker of ``role`` (the settings' role by default).

    ``all`` and ``dedupe`` workers share the app id, so the dedupe tables and their changelogs keep one name
    whichever layout runs them; ``intake`` workers have a group of their own, as they consume only raw.
    """
    return f"{settings.app_id}-intake" if (role or settings.worker_role) == "intake" else settings.app_id


def prepared_topic(settings: Settings) -> str:
    """The internal topic from intake to dedupe, one partition per dedupe shard."""
    return f"{settings.app_id}-prepared"
