"""The ``newsfeed`` command: load the settings, configure logging, dispatch."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC

import orjson
import structlog

from agents.logs import configure_logging
from pipeline.dates import parse_published
from pipeline.settings import WORKER_ROLES, Settings, SettingsError

log = structlog.get_logger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsfeed", description="Clean, deduplicate and tag news on Kafka.")
    commands = parser.add_subparsers(dest="command", required=True)

    worker = commands.add_parser("worker", help="run a stream worker (several form one consumer group)")
    worker.add_argument(
        "--role", choices=WORKER_ROLES, default=None,
        help="all (default, NEWSFEED_WORKER_ROLE), or intake or dedupe alone: see README 'Scaling'",
    )  # fmt: skip

    topics = commands.add_parser("topics", help="create or describe the topics")
    topics.add_argument("action", choices=["create", "describe"])

    replay = commands.add_parser(
        "replay",
        help="publish archived items (JSON lines, RSS/Atom/JSON Feed, WARC/ARC; .gz; directories) to raw",
    )
    replay.add_argument("paths", nargs="+", metavar="PATH")
    replay.add_argument("--rate", type=float, default=None, help="items per second (default: as fast as possible)")
    replay.add_argument("--limit", type=int, default=None, help="stop after this many lines, entries or records")
    replay.add_argument("--dry-run", action="store_true", help="validate only; send nothing")
    replay.add_argument("--no-progress", action="store_true", help="plain log lines instead of a progress bar")
    replay.add_argument("--live", action="store_true", help="do not mark the items as replay (they may alert)")

    subscribe = commands.add_parser("subscribe", help="print what arrives on a topic")
    subscribe.add_argument("topic", help="search, duplicates, alerts, deadletter, raw (or a full topic name)")
    subscribe.add_argument("--from-beginning", action="store_true")
    subscribe.add_argument("--group", default=None, help="consumer group (default: none, nothing committed)")
    subscribe.add_argument("--max-messages", type=int, default=None)
    subscribe.add_argument("--timeout", type=float, default=None, help="stop after this many idle seconds")
    subscribe.add_argument("--format", choices=["json", "pretty"], default="json")

    process = commands.add_parser("process", help="run the pipeline offline over files; JSON lines to stdout")
    process.add_argument(
        "paths",
        nargs="+",
        metavar="FILE",
        help="JSON lines, RSS/Atom/JSON Feed, WARC/ARC, .gz, directories, or - (JSON lines on stdin)",
    )
    process.add_argument("--replay", action="store_true", help="treat the items as a backfill (no alerts)")
    process.add_argument(
        "--explain", action="store_true",
        help="instead of the outputs, one line per item: each topic's phrases, contributions, thresholds, verdict",
    )  # fmt: skip
    process.add_argument(
        "--window-days", type=float, default=None,
        help="dedupe window by event time (default: the whole input, however many years it spans)",
    )  # fmt: skip

    index = commands.add_parser("index", help="index the search and duplicates topics into the local search index")
    index.add_argument("--once", action="store_true", help="stop once what the topics hold now is indexed")

    search = commands.add_parser("search", help="search the local index (no broker needed)")
    search.add_argument("query", nargs="?", default="", help='words, "a phrase", AND, OR, -word (none: newest)')
    search.add_argument("--tag", action="append", default=[], help="only stories with this topic (repeatable)")
    search.add_argument("--since", default=None, help="published within a span (2d, 36h, 90m, 1w) or since a time")
    search.add_argument("--source", action="append", default=[], help="only stories from this source (repeatable)")
    search.add_argument("--limit", type=int, default=10, help="most results (default 10)")
    search.add_argument("--format", choices=["json", "pretty"], default="pretty")

    poll = commands.add_parser("poll", help="poll feeds over HTTP; publish new entries to raw (live)")
    poll.add_argument("feeds", metavar="FEEDS.txt", help="one `URL [SOURCE NAME] [INTERVAL]` a line; # comments")
    poll.add_argument("--once", action="store_true", help="poll every feed once and exit (for cron)")
    poll.add_argument("--interval", type=_seconds, default=300.0, help="default time between polls (300, 5m, 1h)")
    poll.add_argument("--max-backoff", type=_seconds, default=3600.0, help="longest wait after errors (1h)")
    poll.add_argument("--timeout", type=_seconds, default=20.0, help="time for one request, body included (20s)")
    poll.add_argument("--max-bytes", type=int, default=10 * 1024 * 1024, help="largest response body (10 MiB)")
    poll.add_argument("--per-host", type=int, default=2, help="requests at once to one host (2)")
    poll.add_argument("--port", type=int, default=6067, help="port of /health and /metrics (NEWSFEED_WEB_HOST)")

    reprocess = commands.add_parser("reprocess", help="move the worker group on raw to a timestamp")
    reprocess.add_argument("--since", required=True, help="ISO 8601 time (UTC if no zone)")
    return parser


def _seconds(text: str) -> float:
    from pipeline.polling import parse_duration

    value = parse_duration(text)
    if value is None or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (300, 90s, 5m, 1h)")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``newsfeed`` command."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        sys.stderr.write(f"newsfeed: {error}\n")
        return 2
    fmt = settings.log_format if args.command in {"worker", "index"} or not sys.stderr.isatty() else "console"
    configure_logging(settings.log_level, fmt)
    if args.command == "process":  # offline: no Kafka client, not even imported
        from agents.feeds import PathError

        try:
            return _dispatch(args, settings)
        except PathError as error:
            sys.stderr.write(f"newsfeed: {error}\n")
            return 2
    # Imported here, not at the top: they load aiokafka, which `newsfeed process` does not need.
    from aiokafka.errors import KafkaConnectionError

    from agents.broker import EXIT_UNREACHABLE, BrokerUnreachableError, unreachable
    from agents.feeds import PathError

    try:
        return _dispatch(args, settings)
    except PathError as error:
        sys.stderr.write(f"newsfeed: {error}\n")
        return 2
    except (BrokerUnreachableError, KafkaConnectionError) as error:
        reason = _refusal(settings)  # a broker that answered and refused the credentials or the TLS handshake
        if reason is not None:
            sys.stderr.write(f"newsfeed: {reason}\n")
            return 2
        message = error if isinstance(error, BrokerUnreachableError) else unreachable(settings, error)
        sys.stderr.write(f"newsfeed: {message}\n")
        return EXIT_UNREACHABLE


def _refusal(settings: Settings) -> str | None:
    """Why the broker refused this client (credentials, TLS), when it did: asked after a failed bootstrap."""
    from agents.access import refusal

    return asyncio.run(refusal(settings))


async def _before_worker(settings: Settings) -> None:
    """Wait for the broker, refuse to run beside the other layout, and start where it stands."""
    from agents.admin import check_layout
    from agents.startup import follow_other_layout, patiently, wait_for_broker

    await wait_for_broker(settings)
    await patiently(lambda: check_layout(settings), "layout_check")
    await patiently(lambda: follow_other_layout(settings), "follow_other_layout")


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "worker":
        from agents.admin import LayoutError
        from agents.startup import CredentialsError
        from agents.worker import run

        settings = replace(settings, worker_role=args.role) if args.role else settings
        try:
            asyncio.run(_before_worker(settings))
        except (LayoutError, CredentialsError) as error:
            sys.stderr.write(f"newsfeed: {error}\n")
            return 2
        run(settings)
        return 0
    if args.command == "process" and args.explain:
        from agents.explain import explain

        explain(settings, args.paths, sys.stdout.buffer)
        return 0
    if args.command == "process":
        from agents.offline import process

        process(settings, args.paths, sys.stdout.buffer, replay=args.replay, window_days=args.window_days)
        return 0
    if args.command == "topics":
        from agents.admin import create_topics, describe_topics
        from agents.broker import run_command

        if args.action == "create":
            _write(run_command(settings, create_topics(settings)))
        else:
            for row in run_command(settings, describe_topics(settings)):
                _write(row)
        return 0
    if args.command == "replay":
        from agents.broker import run_command
        from agents.replay import replay

        summary = run_command(
            settings,
            replay(settings, args.paths, rate=args.rate, limit=args.limit, dry_run=args.dry_run,
                   progress=False if args.no_progress else None, live=args.live)
        )  # fmt: skip
        _write(summary.as_dict())
        return 1 if summary.refused_files else 0
    if args.command == "subscribe":
        from agents.broker import run_command
        from agents.subscribe import subscribe

        run_command(
            settings,
            subscribe(settings, args.topic, from_beginning=args.from_beginning, group=args.group,
                      max_messages=args.max_messages, idle_timeout=args.timeout, fmt=args.format)
        )  # fmt: skip
        return 0
    if args.command == "index":
        from agents.index import IndexStartError, run_index

        try:
            asyncio.run(run_index(settings, once=args.once))
        except IndexStartError as error:
            sys.stderr.write(f"newsfeed: {error}\n")
            return 1
        return 0
    if args.command == "search":
        from agents.search import search
        from pipeline.search import search_request
        from pipeline.search_index import IndexMissingError

        try:
            request = search_request(args.query, tags=args.tag, sources=args.source, since=args.since, limit=args.limit)
            search(settings, request, fmt=args.format)
        except IndexMissingError:
            sys.stderr.write(
                f"newsfeed: no search index in {settings.search_index_dir} yet: run `newsfeed index` "
                "(NEWSFEED_INDEX_DIR, else NEWSFEED_DATA_DIR/index)\n"
            )
            return 1
        except ValueError as error:
            sys.stderr.write(f"newsfeed: {error}\n")
            return 2
        return 0
    if args.command == "poll":
        from agents.broker import run_command
        from agents.fetch import FetchLimits
        from agents.poll import PollOptions, PollStateMissingError, poll

        if args.max_bytes < 1 or args.per_host < 1:
            sys.stderr.write("newsfeed: --max-bytes and --per-host must be at least 1\n")
            return 2
        options = PollOptions(
            interval=args.interval, max_backoff=args.max_backoff, port=args.port,
            limits=FetchLimits(timeout=args.timeout, max_bytes=args.max_bytes, per_host=args.per_host),
        )  # fmt: skip
        try:
            return run_command(settings, poll(settings, args.feeds, once=args.once, options=options))
        except PollStateMissingError as error:
            sys.stderr.write(f"newsfeed: {error}\n")
            return 2
    if args.command == "reprocess":
        from agents.admin import WorkerRunningError, reprocess
        from agents.broker import run_command

        since = parse_published(args.since)
        if since is None:
            sys.stderr.write(f"newsfeed: cannot read {args.since!r} as a time\n")
            return 2
        try:
            moves = run_command(settings, reprocess(settings, since.astimezone(UTC)))
        except WorkerRunningError as error:
            sys.stderr.write(f"newsfeed: {error}\n")
            return 1
        _write({"since": since.isoformat(), "offsets": {str(k): v for k, v in moves.items()}})
        return 0
    raise AssertionError(args.command)


def _write(value: object) -> None:
    sys.stdout.write(orjson.dumps(value).decode() + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
