"""The reading half of ``newsfeed replay``: files to ready messages, in a second process for large inputs.

Reading, mapping and validating cost replay as much CPU as producing does; on two cores they run in a reader
process while the main process produces. The reader hands over its work in chunks of events (tuples, pickled
once a chunk), in file order: a file's start, then per line, entry or record one of sent / rejected / broken /
skipped, or the file's refusal. A sent event carries the message's key and value bytes and the key's murmur2
hash, so the main process only picks the partition and appends to a batch. Small inputs and standard input are
read in the main process, by the same code.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import struct
import traceback
from collections.abc import AsyncGenerator, Iterator
from multiprocessing.connection import Connection
from typing import Any, Final

from agents.feeds import FeedFile, read_records
from pipeline.decode import Rejected, decode, validate_flat
from pipeline.feeds import Broken, NotAFeedError
from pipeline.settings import Settings

FILE: Final = 0
"""``(FILE, index)``: the file ``files[index]`` starts."""
SENT: Final = 1
"""``(SENT, key, value, key_hash, done)``: a valid item, its Kafka key and value, the key's murmur2 hash."""
REJECTED: Final = 2
"""``(REJECTED, where, reason, detail, done)``: decode or validation refused it."""
BROKEN: Final = 3
"""``(BROKEN, where, reason, detail, done)``: an entry or record that could not become an item."""
SKIPPED: Final = 4
"""``(SKIPPED, reason, done)``: a crawl record that is not an HTML response."""
REFUSED: Final = 5
"""``(REFUSED, reason, detail)``: the file is not readable as its format; the next file follows."""
RECOVERED: Final = 6
"""``(RECOVERED, errors)``: lxml read past these XML errors in the file (reported once per file)."""

Event = tuple[Any, ...]

_CHUNK_EVENTS: Final = 1_000
_CHUNK_BYTES: Final = 4 << 20
PARALLEL_MIN_BYTES: Final = 4 << 20
"""Inputs smaller than this are read in the main process: starting a reader costs about 0.3 s."""


def events(files: list[FeedFile], settings: Settings, limit: int | None) -> Iterator[list[Event]]:
    """Read ``files`` in order and yield their events in chunks; stop after ``limit`` lines, entries or records."""
    chunk: list[Event] = []
    size = 0
    seen = 0

    def recovered(_file: FeedFile, errors: list[str]) -> None:
        chunk.append((RECOVERED, errors))

    for index, file in enumerate(files):
        chunk.append((FILE, index))
        try:
            for record in read_records([file], max_bytes=settings.max_item_bytes, on_recovered=recovered):
                if limit is not None and seen >= limit:
                    break
                seen += 1
                problem = record.problem
                if problem is not None:
                    if isinstance(problem, Broken):
                        chunk.append((BROKEN, record.where, problem.reason, problem.detail, record.done))
                    else:
                        chunk.append((SKIPPED, problem.reason, record.done))
                    continue
                data = record.data
                assert data is not None
                item = validate_flat(record.item, data, settings) if record.item is not None else decode(data, settings)
                if isinstance(item, Rejected):
                    chunk.append((REJECTED, record.where, item.reason, item.detail, record.done))
                    continue
                key = item.id.encode()
                chunk.append((SENT, key, data, murmur2(key), record.done))
                size += len(data)
                if len(chunk) >= _CHUNK_EVENTS or size >= _CHUNK_BYTES:
                    yield chunk
                    chunk = []
                    size = 0
        except NotAFeedError as error:
            chunk.append((REFUSED, error.reason, error.detail))
    if chunk:
        yield chunk


_SEED: Final = 0x9747B28C
_M: Final = 0x5BD1E995
_MASK: Final = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of a key, as a non-negative int: the default partitioner's ``murmur2(key) & 0x7fffffff``.

    The same function as ``aiokafka.partitioner.murmur2``, a word at a time instead of a byte at a time (about
    three times faster; it runs once per message).
    """
    length = len(data)
    h = _SEED ^ length
    words = length >> 2
    for word in struct.unpack_from(f"<{words}I", data):
        k = (word * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    extra = length & 3
    if extra:
        tail = length & ~3
        if extra >= 3:
            h ^= data[tail + 2] << 16
        if extra >= 2:
            h ^= data[tail + 1] << 8
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h & 0x7FFFFFFF


class ReaderError(RuntimeError):
    """The reader process failed (its traceback is the message) or ended without finishing."""


def _read_in_process(conn: Connection, files: list[FeedFile], settings: Settings, limit: int | None) -> None:
    """The reader process: send each chunk pickled, then ``None``; on an error, its traceback as a string."""
    try:
        for chunk in events(files, settings, limit):
            conn.send_bytes(pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL))
        conn.send_bytes(pickle.dumps(None))
    except BaseException:  # noqa: BLE001 - whatever stops the reader is the main process's to report
        with contextlib.suppress(OSError):
            conn.send_bytes(pickle.dumps(traceback.format_exc()))
    finally:
        conn.close()


async def chunks(
    files: list[FeedFile], settings: Settings, limit: int | None, *, parallel: bool
) -> AsyncGenerator[list[Event], None]:
    """The chunks of ``events``, read by a reader process when ``parallel``, else in this one.

    The next chunk is received while the caller works on the current one. The reader is killed when the caller
    stops early (limit reached elsewhere, an error, a cancel).

    Raises:
        ReaderError: the reader process raised, or died.
    """
    if not parallel:
        for chunk in events(files, settings, limit):
            yield chunk
        return
    import asyncio  # noqa: PLC0415 - the reader process never needs it

    context = multiprocessing.get_context("spawn")  # no fork of a process that runs an event loop
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_read_in_process, args=(sender, files, settings, limit), name="newsfeed-replay-reader", daemon=True
    )
    process.start()
    sender.close()  # only the reader writes: its exit then reads as EOF here
    pending = asyncio.ensure_future(asyncio.to_thread(_receive, receiver))
    try:
        while True:
            message = await pending
            if isinstance(message, list):
                pending = asyncio.ensure_future(asyncio.to_thread(_receive, receiver))
                yield message
                continue
            if isinstance(message, str):
                raise ReaderError(f"the replay reader failed:\n{message}")
            break
    finally:
        if process.exitcode is None:
            process.kill()
        await asyncio.to_thread(process.join)
        with contextlib.suppress(Exception):
            await pending  # the receiving thread sees the end of the pipe once the reader is gone
        receiver.close()


def _receive(receiver: Connection) -> list[Event] | str | None:
    try:
        data = receiver.recv_bytes()
    except EOFError:
        return "the reader process ended without finishing (killed?)"
    message: list[Event] | str | None = pickle.loads(data)  # noqa: S301 - our own child process's pickles
    return message
