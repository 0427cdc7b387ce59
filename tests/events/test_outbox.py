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
