"""The one settings object: read from ``NEWSFEED_*`` environment variables at start-up, then frozen."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

_PREFIX = "NEWSFEED_"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class SettingsError(ValueError):
    """A ``NEWSFEED_*`` variable holds a value that cannot be used."""


class Secret:
    """A string that never shows itself in ``repr``, ``str``, logs or error messages."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        """Return the secret value, for handing to the Kafka client only."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def parse_bool(name: str, raw: str) -> bool:
    """Parse a boolean the way operators write one; anything else is an error, never ``bool(str)``."""
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name} must be one of true/false/1/0/yes/no/on/off, not {raw!r}")


WORKER_ROLES: tuple[str, ...] = ("all", "intake", "dedupe")
"""What a worker may run (``NEWSFEED_WORKER_ROLE``)."""
EVENT_LOOPS: tuple[str, ...] = ("uvloop", "asyncio")
"""The event loops a worker may run on (``NEWSFEED_EVENT_LOOP``)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service can be told, with defaults for local development.

    Each field is read from ``NEWSFEED_<FIELD NAME IN CAPITALS>``, e.g. ``NEWSFEED_BROKER``.
    """

    broker: str = "kafka://127.0.0.1:9092"
    """Kafka bootstrap servers, ``kafka://host:port`` (several separated by ``;``)."""
    app_id: str = "newsfeed"
    """The consumer group and the prefix of the internal topics (tables' changelogs, the prepared stream)."""
    topic_prefix: str = "news"
    """Public topics are ``<prefix>.raw``, ``<prefix>.search``, ``<prefix>.duplicates``, ..."""
    raw_partitions: int = 4
    """Partitions of the raw topic (and of the intake stage's parallelism)."""
    dedupe_partitions: int = 1
    """Partitions of the prepared stream and the dedupe tables (one shard per language: hashed by language)."""
    replication_factor: int = 1
    """Replication factor of the topics the service creates."""
    raw_retention_days: float = 30.0
    """How long ``<prefix>.raw`` keeps items, so ``newsfeed reprocess`` can replay them."""
    output_retention_days: float = 14.0
    """Retention of the search, duplicates and alerts topics."""
    deadletter_retention_days: float = 30.0
    """Retention of the dead-letter topic."""
    web_host: str = "127.0.0.1"
    """Address the worker's web server (health, metrics) binds to."""
    web_port: int = 6066
    """Port of the worker's web server."""
    web_enabled: bool = True
    """Serve ``/health`` and ``/metrics`` from the worker."""
    worker_role: str = "all"
    """What a worker runs: ``all`` (intake and dedupe), or ``intake`` or ``dedupe`` alone, so that the dedupe
    shard gets a process of its own and intake workers scale beside it (README "Scaling"). ``intake`` workers
    form the consumer group ``<app id>-intake``; a worker refuses to start beside workers of the other layout."""
    data_dir: Path = Path(".newsfeed")
    """Where the worker keeps its RocksDB table stores."""
    index_dir: Path | None = None
    """Where ``newsfeed index`` keeps its full-text index and ``newsfeed search`` reads it; ``<data_dir>/index``
    when unset."""
    index_group: str | None = None
    """The consumer group whose offsets record what the index holds; ``<app id>-index`` when unset. Each index
    directory needs a group of its own (a second machine's index sets another)."""
    index_commit_seconds: float = 1.0
    """Longest time an indexed article waits for the index commit (and so for ``newsfeed search`` to see it) once
    the indexer has caught up with the topics; while it works through a backlog, 30 s (``agents/index.py``)."""
    index_commit_items: int = 20_000
    """Most articles indexed between two commits of the index (and of the consumer offsets)."""
    store: str = "rocksdb://"
    """Faust table store: ``rocksdb://`` (bounded memory) or ``memory://``."""
    max_item_bytes: int = 2 * 1024 * 1024
    """Items larger than this (raw bytes) are dead-lettered before they are parsed."""
    max_body_chars: int = 2_000_000
    """Bodies longer than this (characters, after decoding) are dead-lettered."""
    max_id_chars: int = 512
    """Ids longer than this are dead-lettered."""
    max_field_chars: int = 4096
    """Longest title, url, source or language accepted."""
    item_timeout_seconds: float = 5.0
    """Longest time one item may spend in the intake stage before it is dead-lettered."""
    dedupe_window_days: float = 7.0
    """Event-time retention of the dedupe index."""
    alert_max_age_hours: float = 24.0
    """No alert for items published longer ago than this."""
    taxonomy_path: Path | None = None
    """Topic taxonomy (TOML); the shipped default when unset."""
    rules_path: Path | None = None
    """Alert rules (TOML); the shipped default when unset."""
    fetch_max_wait_ms: int = 100
    """How long the broker may hold a fetch open when it has no data (Faust's own default is 1500)."""
    producer_linger_ms: float = 10.0
    """How long the producer waits to batch messages: more is less CPU per item and more latency (README)."""
    producer_batch_bytes: int = 1_048_576
    """Largest batch of messages per partition in one produce request (Faust's default, 16 KiB, holds one or two
    articles, so each produce request carried a message or two)."""
    intake_batch_items: int = 256
    """Most items the intake stage hands to the dedupe stage in one internal message. One message per batch
    rather than per item is about a third less CPU per item (README "Performance")."""
    intake_batch_ms: float = 5.0
    """Longest the intake stage waits for a batch to fill, and the dedupe stage for internal messages to decide
    together: the latency each adds when items trickle in."""
    dedupe_batch_messages: int = 64
    """Most internal messages the dedupe stage decides together, with one wait for their changelog records and
    one flush of their outputs. One message at a time, a trickle of one-item messages cost a broker round trip
    each, and the stage fell behind at 200 items/s (README "Performance")."""
    commit_interval_seconds: float = 1.0
    """How often consumed offsets are committed."""
    session_timeout_seconds: float = 10.0
    """Consumer group session timeout: how soon a dead worker's partitions move."""
    heartbeat_interval_seconds: float = 1.0
    """Consumer group heartbeat interval."""
    security_protocol: str = "PLAINTEXT"
    """``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``."""
    sasl_mechanism: str | None = None
    """``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``."""
    sasl_username: str | None = None
    """SASL user name."""
    sasl_password: Secret | None = None
    """SASL password; never logged."""
    ssl_cafile: Path | None = None
    """CA bundle to verify the brokers with (SSL, SASL_SSL)."""
    ssl_certfile: Path | None = None
    """Client certificate for mutual TLS."""
    ssl_keyfile: Path | None = None
    """Client key for mutual TLS."""
    log_level: str = "INFO"
    """Log level of the service and the libraries under it."""
    log_format: str = "json"
    """``json`` (one JSON object a line) or ``console`` (coloured, for a terminal)."""
    event_loop: str = "uvloop"
    """The worker's event loop: ``uvloop`` (2-5% less CPU per item, README "Performance"; the standard loop where
    uvloop cannot be imported) or ``asyncio``."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Reserved for tests: values that are not read from the environment."""

    def topic(self, name: str) -> str:
        """The full name of a public topic: ``topic("search")`` is ``news.search``."""
        return f"{self.topic_prefix}.{name}"

    @property
    def search_index_dir(self) -> Path:
        """The directory of the full-text index (``index_dir``, else ``<data_dir>/index``)."""
        return self.index_dir if self.index_dir is not None else self.data_dir / "index"

    @property
    def search_index_group(self) -> str:
        """The consumer group of ``newsfeed index``."""
        return self.index_group or f"{self.app_id}-index"

    @property
    def dedupe_window(self) -> timedelta:
        """The dedupe index's retention window."""
        return timedelta(days=self.dedupe_window_days)

    @property
    def alert_max_age(self) -> timedelta:
        """The oldest item that may still raise an alert."""
        return timedelta(hours=self.alert_max_age_hours)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build the settings from ``NEWSFEED_*`` variables; ``overrides`` win over the environment.

        Raises:
            SettingsError: a variable is malformed, unknown or out of range.
        """
        env = os.environ if environ is None else environ
        known = {f.name for f in fields(cls)} - {"extra"}
        values: dict[str, Any] = {}
        for key, raw in env.items():
            if not key.startswith(_PREFIX):
                continue
            name = key[len(_PREFIX) :].lower()
            if name not in known:
                raise SettingsError(f"unknown setting {key}; known: {', '.join(sorted(known))}")
            values[name] = raw
        values.update(overrides)
        return cls(**{name: _convert(name, value) for name, value in values.items()})

    def __post_init__(self) -> None:
        if self.log_format not in {"json", "console"}:
            raise SettingsError("NEWSFEED_LOG_FORMAT must be json or console")
        if self.event_loop not in EVENT_LOOPS:
            raise SettingsError(f"NEWSFEED_EVENT_LOOP must be one of {', '.join(EVENT_LOOPS)}")
        if self.worker_role not in WORKER_ROLES:
            raise SettingsError(f"NEWSFEED_WORKER_ROLE must be one of {', '.join(WORKER_ROLES)}")
        for name in _AT_LEAST_ONE:
            if getattr(self, name) < 1:
                raise SettingsError(f"NEWSFEED_{name.upper()} must be at least 1")
        for name in _ABOVE_ZERO:
            if not getattr(self, name) > 0:
                raise SettingsError(f"NEWSFEED_{name.upper()} must be above 0")
        for name in _NOT_NEGATIVE:
            if not getattr(self, name) >= 0:
                raise SettingsError(f"NEWSFEED_{name.upper()} must not be negative")
        if self.producer_batch_bytes < _MIN_BATCH_BYTES:
            raise SettingsError(f"NEWSFEED_PRODUCER_BATCH_BYTES must be at least {_MIN_BATCH_BYTES}")
        if not self.topic_prefix or any(c in self.topic_prefix for c in " /\\"):
            raise SettingsError("NEWSFEED_TOPIC_PREFIX must be a non-empty topic name")


_AT_LEAST_ONE: Final = (
    "raw_partitions",
    "dedupe_partitions",
    "replication_factor",
    "max_item_bytes",
    "max_body_chars",
    "max_id_chars",
    "max_field_chars",
    "intake_batch_items",
    "dedupe_batch_messages",
    "index_commit_items",
)
_ABOVE_ZERO: Final = (
    "raw_retention_days",
    "output_retention_days",
    "deadletter_retention_days",
    "item_timeout_seconds",
    "dedupe_window_days",
    "intake_batch_ms",  # at 0 Faust would wait for a full batch however long it takes
    "commit_interval_seconds",
    "session_timeout_seconds",
    "heartbeat_interval_seconds",
    "index_commit_seconds",
)
_NOT_NEGATIVE: Final = ("fetch_max_wait_ms", "producer_linger_ms", "alert_max_age_hours")
_MIN_BATCH_BYTES: Final = 1024
"""A producer batch smaller than this holds no article; each prepared item would then travel alone."""

_TYPES: dict[str, type] = {
    "raw_partitions": int,
    "dedupe_partitions": int,
    "replication_factor": int,
    "web_port": int,
    "web_enabled": bool,
    "max_item_bytes": int,
    "max_body_chars": int,
    "max_id_chars": int,
    "max_field_chars": int,
    "fetch_max_wait_ms": int,
    "raw_retention_days": float,
    "output_retention_days": float,
    "deadletter_retention_days": float,
    "item_timeout_seconds": float,
    "dedupe_window_days": float,
    "alert_max_age_hours": float,
    "producer_linger_ms": float,
    "producer_batch_bytes": int,
    "intake_batch_items": int,
    "dedupe_batch_messages": int,
    "intake_batch_ms": float,
    "commit_interval_seconds": float,
    "session_timeout_seconds": float,
    "heartbeat_interval_seconds": float,
    "data_dir": Path,
    "index_dir": Path,
    "index_commit_seconds": float,
    "index_commit_items": int,
    "taxonomy_path": Path,
    "rules_path": Path,
    "ssl_cafile": Path,
    "ssl_certfile": Path,
    "ssl_keyfile": Path,
}


def _convert(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name == "sasl_password":
        return Secret(value) if value else None
    kind = _TYPES.get(name)
    if kind is None:
        return value or None if name.startswith(("sasl_", "ssl_")) else value
    if kind is Path:
        return Path(value) if value else None
    if kind is bool:
        return parse_bool(f"NEWSFEED_{name.upper()}", value)
    try:
        return kind(value)
    except ValueError:
        raise SettingsError(f"NEWSFEED_{name.upper()} must be a {kind.__name__}, not {value!r}") from None
