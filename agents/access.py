"""Why the broker turned this client away, asked when a client could not bootstrap.

aiokafka logs the cause of a failed bootstrap (a refused password, an untrusted certificate) and raises only
"Unable to bootstrap", which reads like an unreachable broker. The commands ask here instead, and say the cause in
one line: a refusal is a configuration error, which retrying will not mend.
"""

from __future__ import annotations

import ssl

from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from agents.clients import client_options
from pipeline.settings import Settings

_PROBE_TIMEOUT_MS = 10_000
_REFUSALS = (
    SaslAuthenticationFailed,
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    UnsupportedSaslMechanismError,
)


async def refusal(settings: Settings) -> str | None:
    """Connect once to each bootstrap server, as the clients do, and say why the first one refused.

    Returns:
        One line naming the server and the cause (credentials or TLS; never the password), or None when no server
        refused: each accepted, or could not be reached at all.
    """
    options = client_options(settings)
    servers: list[str] = options.pop("bootstrap_servers")
    for server in servers:
        host, port = server.rsplit(":", 1)
        try:
            connection = await create_conn(host, int(port), request_timeout_ms=_PROBE_TIMEOUT_MS, **options)
        except _REFUSALS as error:
            mechanism = settings.sasl_mechanism or "PLAIN"
            return f"{server} refused the credentials of user {settings.sasl_username!r} ({mechanism}): {error}"
        except ssl.SSLError as error:  # before OSError, which it is
            return f"the TLS handshake with {server} failed ({settings.security_protocol}): {error}"
        except (TimeoutError, OSError, KafkaError):
            continue  # not reached: no refusal to report
        connection.close()
    return None
