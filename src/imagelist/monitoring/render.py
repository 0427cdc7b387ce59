"""``vmcatcher_status`` output: a text table per section, or one JSON document."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from .alarms import Alarm, Thresholds
from .status import SiteStatus

__all__ = ["render_json", "render_text"]


def _time(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _table(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    lines = [f"{title}:"]
    if not rows:
        return [*lines, "  (none)", ""]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        lines.append(
            "  "
            + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return [*lines, ""]


def render_text(status: SiteStatus, found: list[Alarm]) -> str:
    """Sections: subscriptions, signers, CRLs, images, events, alarms."""
    subs = [
        [
            item.identifier,
            item.title or "-",
            item.version or "-",
            _time(item.last_success),
            _time(item.last_attempt),
            _time(item.list_expires),
            " ".join((item.last_error or "-").split())[:80],
        ]
        for item in status.subscriptions
    ]
    lines = _table(
        "Subscriptions",
        ["ID", "TITLE", "VERSION", "LAST SUCCESS", "LAST ATTEMPT", "LIST EXPIRES", "LAST ERROR"],
        subs,
    )
    signers = [
        [item.identifier, item.signer.subject, _time(item.signer.not_after)]
        for item in status.subscriptions
        if item.signer is not None
    ]
    lines += _table("Signer certificates", ["SUBSCRIPTION", "SIGNER", "EXPIRES"], signers)
    crls: dict[str, str] = {}
    for item in status.subscriptions:
        for ca in item.signer.path if item.signer is not None else ():
            crls[ca.subject] = _time(ca.crl_next_update) if ca.crl_next_update else "no CRL"
    lines += _table("CRLs", ["CA", "NEXT UPDATE"], [[ca, when] for ca, when in crls.items()])
    images = [
        [
            item.identifier,
            image.identifier,
            image.title,
            image.version,
            image.state,
            str(image.size),
        ]
        for item in status.subscriptions
        for image in item.images
    ]
    lines += _table("Images", ["SUBSCRIPTION", "ID", "TITLE", "VERSION", "STATE", "SIZE"], images)
    if status.cache is None:
        lines += ["Events: no cache directory", ""]
    else:
        pending = sum(status.cache.events_pending.values())
        dead = sum(status.cache.events_dead.values())
        lines += [f"Events: {pending} pending, {dead} dead-lettered ({status.cache.directory})", ""]
    rows = [[alarm.level.name, alarm.kind, alarm.subject, alarm.message] for alarm in found]
    lines += _table("Alarms", ["LEVEL", "KIND", "SUBJECT", "MESSAGE"], rows)
    return "\n".join(lines).rstrip("\n") + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return _time(value)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        items = [_plain(item) for item in value]
        return sorted(items) if isinstance(value, frozenset | set) else items
    return value


def render_json(
    status: SiteStatus, found: list[Alarm], thresholds: Thresholds, level_name: str
) -> str:
    """One JSON object: ``status``, ``thresholds``, ``subscriptions``, ``cache``, ``alarms``."""
    subscriptions = []
    for item in status.subscriptions:
        data = _plain(asdict(item))
        data["images"] = [_plain(asdict(image)) | {"state": image.state} for image in item.images]
        subscriptions.append(data)
    document = {
        "status": level_name,
        "now": _time(status.now),
        "thresholds": asdict(thresholds),
        "subscriptions": subscriptions,
        "cache": None if status.cache is None else _plain(asdict(status.cache)),
        "alarms": [
            {"level": a.level.name, "kind": a.kind, "subject": a.subject, "message": a.message}
            for a in found
        ],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
