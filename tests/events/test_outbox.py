"""The outbox: failed events kept and sent again to the same handler until it takes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagelist.errors import HandlerError
from imagelist.events import CallableHandler, Event, EventDispatcher, EventType, Outbox

META = {"dc:identifier": "img-1", "message": "the whole signed list", "hv:size": 5}


def _dispatcher(outcomes: dict[str, list[bool]]) -> tuple[EventDispatcher, list[tuple[str, Event]]]:
    seen: list[tuple[str, Event]] = []

    def make(name: str) -> CallableHandler:
        def handler(event: Event) -> bool:
            seen.append((name, event))
            return outcomes[name].pop(0)

        return CallableHandler(name, handler)

    return EventDispatcher([make(name) for name in outcomes], session="S"), seen


def test_failures_are_kept_per_handler_and_sent_again(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    dispatcher, seen = _dispatcher({"glance": [False, False, True], "one": [True]})
    results = dispatcher.emit(EventType.AVAILABLE_POSTFIX, META)
    assert outbox.record(results) == 1
    stored = json.loads((tmp_path / "outbox").read_text())
    assert [(r["handler"], r["type"], r["attempts"]) for r in stored] == [
        ("glance", "AvailablePostfix", 1)
    ]
    assert "message" not in stored[0]["metadata"], "the signed list is not copied"
    assert stored[0]["last_error"] == "glance: exit code 1"

    reloaded = Outbox(tmp_path / "outbox")
    reloaded.load()
    report = reloaded.resend(dispatcher)
    assert (report.delivered, report.failed) == (0, 1)
    assert reloaded.pending[0].attempts == 2
    report = reloaded.resend(dispatcher)
    assert (report.delivered, report.failed) == (1, 0)
    assert not (tmp_path / "outbox").exists()
    assert [name for name, _ in seen] == ["glance", "one", "glance", "glance"]
    assert seen[-1][1].metadata == {"dc:identifier": "img-1", "hv:size": 5}
    assert seen[-1][1].session == "S"


def test_events_wait_for_an_absent_handler_and_can_be_dropped(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.add(EventType.EXPIRE_POSTFIX, META, "gone", "exit code 2")
    outbox.add("NoSuchEvent", META, "present")
    dispatcher, seen = _dispatcher({"present": []})
    report = outbox.resend(dispatcher)
    assert report.waiting == {"gone": 1}
    assert seen == []
    assert len(outbox.pending) == 1, "the unknown event type is dropped"
    assert outbox.pending[0].identifier == "img-1"
    assert outbox.drop() == 1
    assert outbox.pending == []


def test_unreadable_outbox_is_a_handler_error(tmp_path: Path) -> None:
    path = tmp_path / "outbox"
    path.write_text("{broken")
    with pytest.raises(HandlerError, match="cannot read the event outbox"):
        Outbox(path).load()
    path.write_text('[{"unexpected": 1}]')
    with pytest.raises(HandlerError, match="is not valid"):
        Outbox(path).load()
    outbox = Outbox(tmp_path / "missing-dir" / "outbox")
    with pytest.raises(HandlerError, match="cannot write the event outbox"):
        outbox.add(EventType.EXPIRE_PREFIX, META, "h")


def test_dispatcher_sends_to_one_named_handler() -> None:
    dispatcher, seen = _dispatcher({"a": [True], "b": [True]})
    assert dispatcher.names == ("a", "b")
    results = dispatcher.emit(EventType.PROCESS_PREFIX, only="b")
    assert [r.handler for r in results] == ["b"]
    assert [name for name, _ in seen] == ["b"]


def test_an_event_failing_n_times_becomes_a_dead_letter_and_can_be_requeued(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(tmp_path / ".vmcatcher_cache.outbox", max_attempts=3)
    dispatcher, seen = _dispatcher({"glance": [False, False, False, True]})
    assert outbox.record(dispatcher.emit(EventType.AVAILABLE_POSTFIX, META)) == 1
    assert outbox.resend(dispatcher).dead == 0
    report = outbox.resend(dispatcher)
    assert (report.failed, report.dead) == (1, 1)
    assert outbox.pending == []
    assert not outbox.path.exists()
    dead_file = tmp_path / ".vmcatcher_cache.dead-letters"
    (stored,) = json.loads(dead_file.read_text())
    assert (stored["handler"], stored["type"], stored["attempts"]) == (
        "glance",
        "AvailablePostfix",
        3,
    )
    assert stored["dead_since"]
    ident = stored["id"]
    assert f"is a dead letter (id {ident}): handler 'glance' failed 3 time(s)" in caplog.text
    # a dead letter is not sent again on its own
    assert outbox.resend(dispatcher).delivered == 0
    assert len(seen) == 3

    reloaded = Outbox(outbox.path)
    reloaded.load()
    assert [r.id for r in reloaded.dead] == [ident]
    with pytest.raises(HandlerError, match="no dead letter with id 'nope'"):
        reloaded.requeue([ident, "nope"])
    assert [r.id for r in reloaded.dead] == [ident], "nothing moved on an unknown id"
    (moved,) = reloaded.requeue([ident])
    assert moved.attempts == 0
    assert not dead_file.exists()
    assert reloaded.resend(dispatcher).delivered == 1
    assert not outbox.path.exists()


def test_max_attempts_zero_never_dead_letters_and_old_records_load(tmp_path: Path) -> None:
    path = tmp_path / ".vmcatcher_cache.outbox"
    path.write_text(
        json.dumps([{"type": "ExpirePostfix", "metadata": {}, "handler": "h", "attempts": 40}])
    )
    outbox = Outbox(path, max_attempts=0)
    outbox.load()
    assert outbox.pending[0].id, "records written before dead letters get an id"
    dispatcher, _ = _dispatcher({"h": [False]})
    assert outbox.resend(dispatcher).dead == 0
    assert outbox.pending[0].attempts == 41
