"""The failure kinds and skip reasons are declared once (optimizer/vocabulary.py): mypy refuses an
undeclared one, the counters and the summary come from the registry, the values stored in ledgers
and dead letters are the ones earlier releases wrote, and the docs' table of kinds is the
registry's."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from optimizer import known_failures, listing, outcomes, summary
from optimizer.conversion import Outcome
from optimizer.vocabulary import FAILURE_TABLE_HEADER, FailureKind, SkipReason, failure_table, skip_reasons
from tests.support import make_settings

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2024, 3, 15, tzinfo=dt.UTC)
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# What earlier releases wrote into ledger items (failure#<key>.kind, an attempt's dead_kind),
# dead letters (failure.kind) and counters: a renamed or removed value would make those
# unreadable, so the registry must still declare each of them (a new one needs no entry here).
STORED_KINDS = {
    "empty", "not_wav", "rf64", "corrupt", "unsupported_codec", "stale_size", "two_data_chunks", "truncated",
    "riff_size", "partial_frame", "no_audio", "channels_cancel", "too_many_channels", "not_finite",
    "ffmpeg_failed", "ffmpeg_killed", "verification_failed", "access_denied", "s3_refused", "sse_c", "tag_limit",
    "outside_scope", "metadata_limit", "custody_mismatch", "unknown_run", "gave_up", "crashed", "bad_message",
    "other",
}  # fmt: skip
STORED_SKIPS = {
    "not_audio", "already_target_class", "archived", "known_failure", "already_converted", "already_alaw", "gone",
    "changed", "not_converted", "undone",
}  # fmt: skip


def test_every_value_already_stored_is_still_declared():
    assert {kind.value for kind in FailureKind} >= STORED_KINDS
    assert {reason.value for reason in SkipReason} >= STORED_SKIPS


def test_a_member_is_its_string_wherever_it_is_written():
    body = json.loads(outcomes.dead_letter_body('{"key": "k"}', "why", FailureKind.STALE_SIZE))
    assert body["failure"]["kind"] == "stale_size" and type(body["failure"]["kind"]) is str
    assert f"{FailureKind.NO_AUDIO}" == str(FailureKind.NO_AUDIO) == "no_audio"
    assert json.dumps({SkipReason.GONE: SkipReason.CHANGED}) == '{"gone": "changed"}'
    item = known_failures.failure_item("k", '"e"', "r", run="run", now=NOW, kind=FailureKind.RF64)
    assert item["kind"] == {"S": "rf64"}
    assert "kind" not in known_failures.failure_item("k", '"e"', "r", run="run", now=NOW)


@pytest.mark.parametrize("kind", list(FailureKind))
def test_each_kind_counts_and_summarizes_under_its_own_name(kind):
    counts = outcomes.counts(Outcome("failed", "why", kind=kind))
    assert counts == {"failed": 1, f"failed_{kind.value}": 1} and kind.counter == f"failed_{kind.value}"
    assert summary.failures_by_kind(counts) == {kind.value: 1}


@pytest.mark.parametrize("reason", [r for r in SkipReason if r.by == "converter"])
def test_each_converter_skip_counts_and_shows_in_the_summary(reason):
    counts = outcomes.counts(Outcome("skipped", reason))
    assert counts == {reason.counter: 1} and reason.counter == f"skipped_{reason.value}"
    run = {"days": 1, "start_date": "2022-01-01", "prefix": "p/", "dry_run": False}
    output = summary.run_summary(run, {**counts, "enqueued": 1, "accounted": 1}, {}, [], make_settings())["output"]
    assert output["skipped"][reason.value] == 1 and output["failed"] == 0


def test_the_summary_and_the_listing_take_their_reasons_from_the_registry():
    assert skip_reasons("lister") == listing.SKIP_REASONS and skip_reasons("converter") == summary.CONVERTER_SKIPS
    assert set(listing.Page().skipped) == set(skip_reasons("lister"))
    run = {"days": 1, "start_date": "2022-01-01", "prefix": "p/", "dry_run": False}
    output = summary.run_summary(run, {}, {}, [], make_settings())["output"]
    assert list(output["skipped"]) == [*skip_reasons("lister"), *skip_reasons("converter")]


# The kinds remembered before the registry (known_failures.REMEMBERED_KINDS, hand-kept then): a
# kind added to or dropped from the memory is a decision, made here too.
REMEMBERED_BEFORE = {
    "empty", "not_wav", "rf64", "corrupt", "unsupported_codec", "stale_size", "two_data_chunks", "truncated",
    "riff_size", "partial_frame", "no_audio", "channels_cancel", "too_many_channels", "not_finite",
    "ffmpeg_failed", "ffmpeg_killed", "verification_failed",
}  # fmt: skip


def test_remembered_kinds_are_the_registrys():
    assert {kind.value for kind in FailureKind if kind.remembered} == REMEMBERED_BEFORE
    assert known_failures.REMEMBERED_KINDS == REMEMBERED_BEFORE
    assert FailureKind.STALE_SIZE in known_failures.REMEMBERED_KINDS
    assert FailureKind.ACCESS_DENIED not in known_failures.REMEMBERED_KINDS
    # A stored item holds a plain string: looked up by value.
    assert "stale_size" in known_failures.REMEMBERED_KINDS and "access_denied" not in known_failures.REMEMBERED_KINDS


@pytest.mark.parametrize(("text", "kind"), [("", FailureKind.OTHER), ("no_such_kind", FailureKind.OTHER)])
def test_a_stored_kind_this_release_does_not_declare_reads_as_other(text, kind):
    assert FailureKind.stored(text) is kind


@pytest.mark.parametrize("kind", list(FailureKind))
def test_a_stored_kind_reads_as_its_member(kind):
    assert FailureKind.stored(kind.value) is kind


def _doc_table() -> tuple[Path, list[str], str]:
    """The docs' table of failure kinds (in README or a page under docs/, wherever it lives), and
    the text around it."""
    for path in DOCS:
        text = path.read_text()
        lines = text.splitlines()
        starts = [n for n, line in enumerate(lines) if line.strip() == FAILURE_TABLE_HEADER[0]]
        if starts:
            assert len(starts) == 1, f"{path} holds the table of failure kinds twice"
            table = []
            for line in lines[starts[0] :]:
                if not line.strip().startswith("|"):
                    break
                table.append(line.strip())
            return path, table, text
    raise AssertionError(f"no page holds the table of failure kinds (header {FAILURE_TABLE_HEADER[0]!r})")


def test_the_docs_table_of_failure_kinds_is_the_registry():
    path, table, _ = _doc_table()
    expected = failure_table().splitlines()
    assert table == expected, (
        f"{path.relative_to(ROOT)}'s table of failure kinds differs from optimizer/vocabulary.py; "
        "it should read:\n" + "\n".join(expected)
    )


def test_the_docs_say_which_kinds_are_remembered():
    """'The kinds from `A` to `B` are content failures: remembered': exactly the remembered kinds,
    in the table's order."""
    _, _, text = _doc_table()
    found = re.search(r"The kinds from `(\w+)` to `(\w+)` are content failures", " ".join(text.split()))
    assert found, "the docs no longer say which kinds are remembered"
    order = list(FailureKind)
    values = [kind.value for kind in order]
    first, last = values.index(found[1]), values.index(found[2])
    assert set(order[first : last + 1]) == known_failures.REMEMBERED_KINDS


def test_mypy_refuses_an_undeclared_kind_or_reason(tmp_path):
    """The registry is the type of `kind` (and of a skip reason where one is decided): a string,
    even a declared kind's, does not type-check."""
    snippet = tmp_path / "snippet.py"
    lines = {
        "ok": "PermanentFailure('why', FailureKind.TAG_LIMIT)",
        "exception": "PermanentFailure('why', 'tag_limt')",
        "wav": "NotWav('why', kind='corupt')",
        "outcome": "Outcome('failed', 'why', kind='stale_size')",
        "dead_letter": "dead_letter_body('{}', 'why', 'other')",
        "format": "replace(TARGET, skip_reason='already_mulaw')",
    }
    header = """\
        from dataclasses import replace

        from optimizer.conversion import Outcome, PermanentFailure
        from optimizer.formats import TARGET
        from optimizer.outcomes import dead_letter_body
        from optimizer.vocabulary import FailureKind
        from optimizer.wav import NotWav
        """
    source = textwrap.dedent(header) + "\n".join(lines.values()) + "\n"
    snippet.write_text(source)
    first = len(textwrap.dedent(header).splitlines()) + 1
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), str(snippet)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    flagged = {int(n) for n in re.findall(rf"{re.escape(snippet.name)}:(\d+): error:", result.stdout)}
    numbered = {name: first + i for i, name in enumerate(lines)}
    assert flagged == {n for name, n in numbered.items() if name != "ok"}, result.stdout + result.stderr
    assert result.returncode == 1
