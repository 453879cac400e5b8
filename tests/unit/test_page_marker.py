"""optimizer/page_marker.py: the enqueuer's marker of a page and the counts written with it."""

from __future__ import annotations

from optimizer import page_marker
from optimizer.ledger import MAYBE_SENT, SENT, UNSENT
from optimizer.messages import Recording


def _recordings(*sizes: int) -> list[Recording]:
    return [Recording(bucket="b", key=f"p/{i}.wav", size=size, etag='"e"') for i, size in enumerate(sizes)]


def test_a_new_page_is_all_unsent_and_not_complete():
    assert page_marker.marks(None, 3) == UNSENT * 3
    assert not page_marker.was_complete(None)
    assert page_marker.was_complete(SENT * 2)
    assert not page_marker.was_complete(SENT + MAYBE_SENT)


def test_the_intent_marks_what_is_not_sent_and_counts_only_what_no_attempt_counted():
    sending = page_marker.intent(SENT + MAYBE_SENT + UNSENT + UNSENT)
    assert sending.marker == SENT + MAYBE_SENT * 3
    assert sending.pending == {1, 2, 3}
    assert sending.newly_counted == 2  # the MAYBE_SENT one was counted by the earlier attempt


def test_the_outcome_subtracts_the_refused_and_counts_the_day_once_its_last_page_is_sent():
    sending = page_marker.intent(UNSENT * 3)
    partial = page_marker.outcome(sending, {0, 2}, last_page=True, complete_before=False)
    assert partial.marker == SENT + UNSENT + SENT
    assert partial.refused == {1}
    assert partial.counts == {"enqueued": -1}  # not wholly on the queue: the day is not done
    whole = page_marker.outcome(page_marker.intent(partial.marker), {1}, last_page=True, complete_before=False)
    assert whole.marker == SENT * 3
    assert whole.counts == {"enqueued": 0, "days_done": 1}
    again = page_marker.outcome(page_marker.intent(SENT * 3), set(), last_page=True, complete_before=True)
    assert again.counts == {"enqueued": 0}  # a retry of a complete page counts the day no second time


def test_the_listing_counts_leave_the_day_to_the_send_and_a_dry_run_adds_its_projection():
    counts = {"listed": 4, "skipped_not_audio": 1, "days_done": 1}
    recordings = _recordings(1000, 3000)
    assert page_marker.listing_counts(counts, recordings, dry_run=False) == {"listed": 4, "skipped_not_audio": 1}
    dry = page_marker.listing_counts(counts, recordings, dry_run=True)
    assert "days_done" not in dry
    assert (dry["dry_recordings"], dry["dry_bytes"]) == (2, 4000)
    assert 0 < dry["dry_projected_bytes"] < 4000
