"""Replay's reading: events in file order, each problem reported with its file and position, keys hashed as Kafka does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import structlog
from aiokafka.partitioner import murmur2 as kafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from agents.feeds import resolve
from agents.replay import replay
from agents.replay_source import FILE, SENT, events, murmur2
from pipeline.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"


@given(st.binary(max_size=300))
def test_murmur2_is_kafkas_default_partitioner_hash(key: bytes) -> None:
    assert murmur2(key) == kafka_murmur2(key) & 0x7FFFFFFF


def _archive(tmp_path: Path) -> Path:
    folder = tmp_path / "archive"
    folder.mkdir()
    for name in ["rss2.xml", "atom.xml", "feed.json", "example.arc", "xxe.xml", "recovered.xml.gz"]:
        shutil.copy(FIXTURES / name, folder / name)
    (folder / "items.jsonl").write_text('{"id": "a", "body": "text"}\n[1, 2]\n{"id": "b", "body": "more"}\n')
    return folder


@pytest.mark.parametrize("limit", [None, 4])
async def test_replay_counts_and_reports_each_problem_with_its_file_and_position(
    tmp_path: Path, limit: int | None
) -> None:
    folder = _archive(tmp_path)
    with structlog.testing.capture_logs() as logs:
        summary = (
            await replay(Settings.from_env({}), [str(folder)], dry_run=True, progress=False, limit=limit)
        ).as_dict()
    reports = [
        (e["event"], e.get("path"), e.get("position"), e.get("reason")) for e in logs if e["event"] != "replay_done"
    ]
    if limit is not None:
        assert summary["sent"] + summary["skipped"] + summary["broken"] + summary["rejected"] == 4
        return
    assert summary["sent"] == 11
    assert summary["formats"]["jsonl"] == {"files": 1, "sent": 2, "rejected": 1}
    assert summary["refused_files"] == [str(folder / "xxe.xml")]
    assert ("replay_line_rejected", str(folder / "items.jsonl"), "line 2", "not_an_object") in reports
    assert ("replay_entry_broken", str(folder / "feed.json"), "item 3", "not_an_object") in reports
    assert ("replay_file_refused", str(folder / "xxe.xml"), None, "hostile_xml") in reports
    assert ("feed_xml_recovered", str(folder / "recovered.xml.gz"), None, None) in reports


def test_events_keep_file_order_and_carry_ready_messages(tmp_path: Path) -> None:
    folder = _archive(tmp_path)
    files = resolve([str(folder)])
    settings = Settings.from_env({})
    flat = [event for chunk in events(files, settings, None) for event in chunk]
    assert [e[1] for e in flat if e[0] == FILE] == list(range(len(files)))
    sent = [e for e in flat if e[0] == SENT]
    assert all(isinstance(key, bytes) and value.startswith(b"{") for _, key, value, _, _ in sent)
    assert all(key_hash == murmur2(key) for _, key, _, key_hash, _ in sent)
