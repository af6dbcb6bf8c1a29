"""Input files: checked before anything connects, formats found from content, directories, replay's summary."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from agents.feeds import PathError, read_records, resolve
from agents.replay import replay
from pipeline.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"


def test_a_missing_path_is_named() -> None:
    with pytest.raises(PathError, match=r"^/nonexistent\.jsonl: no such file or directory$"):
        resolve(["/nonexistent.jsonl"])


def test_a_named_file_that_is_not_a_feed_is_an_error_before_anything_is_read(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text('{"body": "x"}\n')
    with pytest.raises(PathError, match=r"page\.html: not a feed: an HTML page"):
        resolve([str(good), str(FIXTURES / "page.html")])


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(PathError, match="a directory with no feed files"):
        resolve([str(tmp_path)])


def test_gzip_is_found_by_its_bytes_and_the_format_by_the_content(tmp_path: Path) -> None:
    disguised = tmp_path / "download.dat"
    disguised.write_bytes(gzip.compress((FIXTURES / "atom.xml").read_bytes()))
    [file] = resolve([str(disguised)])
    assert file.format == "atom"
    assert [r.item["id"] for r in read_records([file], max_bytes=1 << 20) if r.item] == [
        "tag:blog.example.co.uk,2024:1",
        "tag:blog.example.co.uk,2024:2",
    ]


async def test_replay_dry_run_counts_by_format_and_goes_on_past_broken_entries_and_refused_files(
    tmp_path: Path,
) -> None:
    for name in ["rss2.xml", "atom.xml", "feed.json", "example.arc", "xxe.xml"]:
        shutil.copy(FIXTURES / name, tmp_path / name)
    (tmp_path / "items.jsonl").write_text('{"id": "a", "body": "text"}\n[1, 2]\n')
    summary = await replay(Settings.from_env({}), [str(tmp_path)], dry_run=True, progress=False)
    result = summary.as_dict()
    assert result["formats"] == {
        "arc": {"files": 1, "sent": 1, "skipped": 1},
        "atom": {"files": 1, "sent": 2},
        "jsonfeed": {"files": 1, "sent": 2, "broken": 2},
        "jsonl": {"files": 1, "sent": 1, "rejected": 1},
        "refused": {"files": 1, "refused": 1},
        "rss": {"files": 1, "sent": 2, "broken": 1},
    }
    assert summary.sent == 8
    assert result["broken_by_reason"] == {"no_body": 2, "not_an_object": 1}
    assert result["skipped_by_reason"] == {"warcinfo": 1}
    assert result["rejected_by_reason"] == {"not_an_object": 1}
    assert result["refused_files"] == [str(tmp_path / "xxe.xml")]


async def test_the_progress_bar_runs_over_feed_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ["rss2.xml", "example.arc", "recovered.xml.gz"]:
        shutil.copy(FIXTURES / name, tmp_path / name)
    summary = await replay(Settings.from_env({}), [str(tmp_path)], dry_run=True, progress=True)
    assert summary.sent == 5
    assert "replay" in capsys.readouterr().err  # rich drew the bar on stderr
