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

    replay = commands.add_parser("replay", help="publish archived items (JSON lines, .gz, directories) to raw")
    replay.add_argument("paths", nargs="+", metavar="PATH")
    replay.add_argument("--rate", type=float, default=None, help="items per second (default: as fast as possible)")
    replay.add_argument("--limit", type=int, default=None, help="stop after this many lines")
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
    process.add_argument("paths", nargs="+", metavar="FILE", help="JSON-lines files, .gz, or - for stdin")
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

    reprocess = commands.add_parser("reprocess", help="move the worker group on raw to a timestamp")
    reprocess.add_argument("--since", required=True, help="ISO 8601 time (UTC if no zone)")
    return parser


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
    if args.command == "process":
        return _dispatch(args, settings)  # offline: no Kafka client, not even imported
    from aiokafka.errors import KafkaConnectionError

    try:
        return _dispatch(args, settings)
    except KafkaConnectionError as error:
        reason = _refusal(settings)
        if reason is not None:
            sys.stderr.write(f"newsfeed: {reason}\n")
            return 2
        sys.stderr.write(f"newsfeed: cannot reach the broker at {settings.broker}: {error}\n")
        return 1


def _refusal(settings: Settings) -> str | None:
    """Why the broker refused this client (credentials, TLS), when it did: asked after a failed bootstrap."""
    from agents.access import refusal

    return asyncio.run(refusal(settings))


async def _before_worker(settings: Settings) -> None:
    """Wait for the broker, refuse to run beside the other layout, and start where it stands."""
    from agents.admin import check_layout
    from agents.startup import follow_other_layout, wait_for_broker

    await wait_for_broker(settings)
    await check_layout(settings)
    await follow_other_layout(settings)


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

        if args.action == "create":
            result = asyncio.run(create_topics(settings))
            _write(result)
        else:
            for row in asyncio.run(describe_topics(settings)):
                _write(row)
        return 0
    if args.command == "replay":
        from agents.replay import replay

        summary = asyncio.run(
            replay(settings, args.paths, rate=args.rate, limit=args.limit, dry_run=args.dry_run,
                   progress=False if args.no_progress else None, live=args.live)
        )  # fmt: skip
        _write(summary.as_dict())
        return 0
    if args.command == "subscribe":
        from agents.subscribe import subscribe

        asyncio.run(
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
    if args.command == "reprocess":
        from agents.admin import WorkerRunningError, reprocess

        since = parse_published(args.since)
        if since is None:
            sys.stderr.write(f"newsfeed: cannot read {args.since!r} as a time\n")
            return 2
        try:
            moves = asyncio.run(reprocess(settings, since.astimezone(UTC)))
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
