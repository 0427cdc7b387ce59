"""In-process handlers from the ``imagelist.handlers`` entry-point group, and the dispatcher."""

from __future__ import annotations

import os
import re
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from imagelist.errors import HandlerError
from imagelist.events import (
    ENTRY_POINT_GROUP,
    Event,
    EventDispatcher,
    EventType,
    available_handlers,
    build_dispatcher,
    load_handler,
    registry,
)

RECEIVED: list[Event] = []
NOT_CALLABLE = 42


def record(event: Event) -> None:
    """An in-process handler as a backend package would register it."""
    RECEIVED.append(event)


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    points = [
        EntryPoint("record", f"{__name__}:record", ENTRY_POINT_GROUP),
        EntryPoint("constant", f"{__name__}:NOT_CALLABLE", ENTRY_POINT_GROUP),
        EntryPoint("broken", "imagelist_no_such_module:handler", ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(
        registry, "entry_points", lambda group: [p for p in points if p.group == group]
    )
    RECEIVED.clear()


@pytest.mark.usefixtures("installed")
def test_entry_point_handlers_are_found_and_called() -> None:
    assert set(available_handlers()) == {"record", "constant", "broken"}
    handler = load_handler("record")
    assert handler.name == "record"
    assert handler(Event(EventType.SUBSCRIPTION_IMAGE_NEW, {"dc:identifier": "i"})).ok
    assert RECEIVED[0].metadata == {"dc:identifier": "i"}


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing", "no event handler named 'missing'"),
        ("constant", "is not callable"),
        ("broken", "cannot load event handler 'broken'"),
    ],
)
def test_bad_handlers_are_one_line_errors(name: str, message: str) -> None:
    with pytest.raises(HandlerError, match=message) as caught:
        load_handler(name)
    assert caught.value.exit_code == 1


@pytest.mark.usefixtures("installed")
def test_dispatcher_sends_each_event_to_every_handler_with_one_session(tmp_path: Path) -> None:
    log = tmp_path / "log"
    dispatcher = build_dispatcher(
        f'echo "$VMCATCHER_EVENT_UUID_SESSION $VMCATCHER_RDBMS" >> {log}',
        ["record"],
        timeout=30,
        extra={"VMCATCHER_RDBMS": "sqlite:///x.db"},
        environ=os.environ,
    )
    assert dispatcher.enabled
    assert re.fullmatch(r"[0-9a-f-]{36}", dispatcher.session)
    for _ in range(2):
        results = dispatcher.emit(EventType.SUBSCRIPTION_IMAGE_NEW, {"dc:identifier": "i"})
        assert [result.ok for result in results] == [True, True]
    assert log.read_text() == f"{dispatcher.session} sqlite:///x.db\n" * 2
    assert {event.session for event in RECEIVED} == {dispatcher.session}


def test_no_handlers_configured() -> None:
    dispatcher = build_dispatcher(None, environ={})
    assert not dispatcher.enabled
    assert dispatcher.emit(EventType.PROCESS_PREFIX) == []
    assert not build_dispatcher("   ", environ={}).enabled
    assert EventDispatcher(session="fixed").session == "fixed"


@pytest.mark.usefixtures("installed")
def test_in_process_handlers_get_the_commands_environment_not_the_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADR 0028: the dispatcher hands each event the environment the command passed down; the
    shell command runs in it too, and neither sees a variable only the process has."""
    monkeypatch.setenv("IMAGELIST_TEST_PROCESS_ONLY", "process")
    out = tmp_path / "out"
    command = f'echo "[$IMAGELIST_TEST_SETTING][$IMAGELIST_TEST_PROCESS_ONLY]" > {out}'
    environ = {"PATH": os.environ["PATH"], "IMAGELIST_TEST_SETTING": "from the command"}
    dispatcher = build_dispatcher(command, ["record"], timeout=30, environ=environ)
    results = dispatcher.emit(EventType.PROCESS_PREFIX)
    assert [result.ok for result in results] == [True, True]
    assert out.read_text() == "[from the command][]\n"
    assert RECEIVED[0].environ == environ
    assert "IMAGELIST_TEST_SETTING" not in str(RECEIVED[0])  # not in the event's repr
