"""The output formats of the vmcatcher commands: ``lines`` and ``json`` (reference §2.1-§2.3).

Line formats are those of vmcatcher 0.6 (``key=value`` info lines, tab-separated listings,
``'quoted'`` endorser listings, the image state bitmap) with these differences: ``image.sl:arch``
shows the architecture (0.6 printed the hypervisor), the password is shown as ``********``, and
``imagelist.hv:version`` and (when it differs from the fetch URI) ``subscription.hv:uri.list``
are added. ``SMIME`` and ``message`` print a stored list; listings fall back to ``lines`` with
them, as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ..document import format_date
from .endorsers import EndorserRecord, LinkRecord
from .records import (
    ImageDetails,
    ImageRecord,
    ImageState,
    ListRecord,
    SubscriptionDetails,
    SubscriptionRecord,
)
from .settings import FORMATS
from .update import UpdateResult

__all__ = [
    "FORMATS",
    "render_endorser_info",
    "render_endorsers",
    "render_image_info",
    "render_image_states",
    "render_links",
    "render_subscription_info",
    "render_subscriptions",
    "render_update",
]

MASK = "********"


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, indent=4, ensure_ascii=False) + "\n"


def _text(lines: Iterable[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def _date(value: datetime | None) -> str | bool:
    """The 0.6 line form: ``False`` when there is no date."""
    return False if value is None else format_date(value)


def _opt(value: object) -> str:
    """A line value: empty when the database has none (0.6 printed Python's ``None``)."""
    return "" if value is None else str(value)


def _json_date(value: datetime | None) -> str | None:
    """The JSON form: null when there is no date (0.6 wrote false)."""
    return None if value is None else format_date(value)


def _anchor(record: SubscriptionRecord) -> str:
    """The trust anchor in JSON: what ``--uri-trustanchor-set`` takes (``none``, not ``None``)."""
    return record.trust_anchor_name.lower()


# --- pieces ---------------------------------------------------------------------------------------


def subscription_lines(record: SubscriptionRecord) -> list[str]:
    """The ``subscription.*=`` info lines."""
    lines = [
        f"imagelist.dc:identifier={record.identifier}",
        f"subscription.dc:identifier={record.identifier}",
        f"subscription.dc:description={_opt(record.description)}",
        f"subscription.sl:authorised={record.authorised}",
        f"subscription.hv:uri={record.uri}",
        f"subscription.hv:uri.trustAnchor={record.trust_anchor_name}",
    ]
    if record.list_uri and record.list_uri != record.uri:
        lines.append(f"subscription.hv:uri.list={record.list_uri}")
    if record.username:
        lines.append(f"subscription.hv:uri.username={record.username}")
    if record.has_password:
        lines.append(f"subscription.hv:uri.password={MASK}")
    lines.append(f"subscription.dc:date:updated={_date(record.updated)}")
    if record.signature_policy != "smime":  # only where OpenPGP is involved (ADR 21)
        lines.append(f"subscription.signature_policy={record.signature_policy}")
    return lines


def subscription_json(record: SubscriptionRecord) -> dict[str, Any]:
    """The subscription as JSON."""
    output: dict[str, Any] = {
        "identifier": record.identifier,
        "description": record.description,
        "authorised": record.authorised,
        "uri": record.uri,
        "updated": _json_date(record.updated),
        "uri.trustAnchor": _anchor(record),
    }
    if record.list_uri and record.list_uri != record.uri:
        output["uri.list"] = record.list_uri
    if record.username:
        output["uri.username"] = record.username
    if record.has_password:
        output["uri.password"] = MASK
    if record.signature_policy != "smime":
        output["signature_policy"] = record.signature_policy
    return output


def list_lines(record: ListRecord) -> list[str]:
    """The ``imagelist.*=`` info lines."""
    lines = []
    if record.expired is not None:
        lines.append(f"imagelist.vmcatcher.dc:date:expired={format_date(record.expired)}")
        lines.append("imagelist.expired=True")
    else:
        lines.append("imagelist.expired=False")
    lines += [
        f"imagelist.dc:date:imported={format_date(record.imported)}",
        f"imagelist.dc:date:created={format_date(record.created)}",
        f"imagelist.dc:date:expires={format_date(record.expires)}",
        f"imagelist.hv:version={record.version}",
    ]
    return lines


def list_json(record: ListRecord) -> dict[str, Any]:
    """The list instance as JSON."""
    return {
        "imported": format_date(record.imported),
        "created": format_date(record.created),
        "expires": format_date(record.expires),
        "expired": _json_date(record.expired),
        "version": record.version,
    }


def image_lines(record: ImageRecord) -> list[str]:
    """The ``image.*=`` info lines."""
    return [
        f"image.dc:description={record.description}",
        f"image.dc:title={record.title}",
        f"image.hv:hypervisor={record.hypervisor}",
        f"image.hv:size={record.size}",
        f"image.hv:uri={record.uri}",
        f"image.hv:version={record.version}",
        f"image.sl:arch={_opt(record.arch)}",
        f"image.sl:checksum:sha512={record.sha512}",
        f"image.sl:comments={_opt(record.comments)}",
        f"image.sl:os={_opt(record.os)}",
        f"image.sl:osversion={_opt(record.osversion)}",
    ]


def image_json(record: ImageRecord) -> dict[str, Any]:
    """The image as JSON."""
    return {
        "description": record.description,
        "title": record.title,
        "hypervisor": record.hypervisor,
        "size": record.size,
        "uri": record.uri,
        "version": record.version,
        "arch": record.arch,
        "sha512": record.sha512,
        "comments": record.comments,
        "sl:os": record.os,
        "sl:osversion": record.osversion,
    }


def _state_json(state: ImageState) -> dict[str, Any]:
    return {
        "image": state.image,
        "state": state.state,
        "subscription": state.subscription,
        "title": state.title,
        "version": state.version,
    }


def _state_line(state: ImageState, *, long: bool = False) -> str:
    line = f"{state.image}\t{state.state}\t{state.subscription}"
    if not long:
        return line
    return f"{line}\t{_tab_free(state.version)}\t{_tab_free(state.title)}"


def _tab_free(value: str | None) -> str:
    """A column value: tabs and line ends (possible in a title) become spaces; none is empty."""
    return "" if value is None else " ".join(value.replace("\t", " ").splitlines())


# --- vmcatcher_subscribe ------------------------------------------------------------------------


def render_subscriptions(records: Sequence[SubscriptionRecord], fmt: str) -> str:
    """``-l``: ``<id>\\t<authorised>\\t<trust anchor>\\t<uri>`` per subscription."""
    if fmt == "json":
        return _dump(
            [
                {
                    "identifier": r.identifier,
                    "authorised": r.authorised,
                    "uri": r.uri,
                    "uri.trustAnchor": _anchor(r),
                }
                for r in records
            ]
        )
    return _text(f"{r.identifier}\t{r.authorised}\t{r.trust_anchor_name}\t{r.uri}" for r in records)


def render_subscription_info(
    details: SubscriptionDetails, fmt: str, *, images: bool = False
) -> str:
    """``-i`` (and ``--image-list`` with ``images``): the subscription and its latest list."""
    if fmt == "json":
        output: dict[str, Any] = {"Subscription": subscription_json(details.subscription)}
        if details.latest is not None:
            output["ImageListInstance"] = list_json(details.latest)
        if images:
            output["images"] = [_state_json(state) for state in details.images]
        return _dump(output)
    lines = subscription_lines(details.subscription)
    if details.latest is not None:
        lines += list_lines(details.latest)
    if images:
        lines += [_state_line(state) for state in details.images]
    return _text(lines)


def render_update(results: Sequence[UpdateResult], fmt: str, *, quiet: bool, dry_run: bool) -> str:
    """One summary line per subscription (``-q``: only those that failed); with ``dry_run``,
    one indented line per image change and per warning."""
    shown = [r for r in results if r.exit_code or not quiet]
    if fmt == "json":
        return _dump(
            [
                {
                    "subscription": r.subscription,
                    "uri": r.uri,
                    "exit_code": r.exit_code,
                    "outcome": str(r.outcome),
                    "message": r.message,
                    "dry_run": dry_run,
                    "changes": [
                        {"image": c.identifier, "change": str(c.kind)}
                        for c in (r.plan.accept.changes if r.plan.accept else ())
                        if c.kind != "unchanged"
                    ],
                    "warnings": list(r.plan.warnings),
                    "events": [
                        {"handler": e.handler, "ok": e.ok, "detail": e.describe()} for e in r.events
                    ],
                }
                for r in shown
            ]
        )
    lines = ["dry run: nothing was written and no event was sent"] if dry_run else []
    for result in shown:
        lines.append(result.line())
        if not dry_run:
            continue
        if result.plan.accept is not None:
            lines += [
                f"\t{change.kind}\t{change.identifier}\t{change.describe()}"
                for change in result.plan.accept.changes
                if change.kind != "unchanged"
            ]
        lines += [f"\twarning\t{warning}" for warning in result.plan.warnings]
    return _text(lines)


# --- vmcatcher_image ----------------------------------------------------------------------------


def render_image_states(states: Sequence[ImageState], fmt: str, *, long: bool = False) -> str:
    """``-l``: ``<image>\\t<state>\\t<subscription>`` per image; with ``long`` (``--long``)
    two more columns, ``<version>\\t<title>``. JSON always has title and version."""
    if fmt == "json":
        return _dump([_state_json(state) for state in states])
    return _text(_state_line(state, long=long) for state in states)


def render_image_info(details: ImageDetails, fmt: str) -> str:
    """``-i``: the subscription, the list, the image, its definition and the endorser."""
    if fmt == "json":
        output: dict[str, Any] = {
            "Subscription": subscription_json(details.subscription),
            "ImageDefinition": {"identifier": details.identifier, "cache": details.cache},
        }
        if details.latest is not None:
            output["ImageListInstance"] = list_json(details.latest)
        if details.image is not None:
            output["ImageInstance"] = image_json(details.image)
        if details.principals:
            output["EndorserPrincible"] = [
                {"subject": dn, "issuer": ca} for dn, ca in details.principals
            ]
        return _dump(output)
    lines = subscription_lines(details.subscription)
    if details.latest is not None:
        lines += list_lines(details.latest)
    if details.image is not None:
        lines += image_lines(details.image)
    lines += [f"imagedef.dc:identifier={details.identifier}", f"imagedef.cache={details.cache}"]
    for dn, ca in details.principals:
        lines += [f"endorser:hv:subject={dn}", f"endorser:hv:issuer={ca}"]
    return _text(lines)


# --- vmcatcher_endorser -------------------------------------------------------------------------


def render_endorsers(records: Sequence[EndorserRecord], fmt: str) -> str:
    """``-l``: ``'<id>'\\t'<dn>'\\t'<ca>'`` per principal."""
    if fmt == "json":
        output = []
        for record in records:
            item: dict[str, Any] = {"endorser": record.identifier}
            if record.principals:
                principals = [{"subject": dn, "issuer": ca} for dn, ca in record.principals]
                item["principals"] = principals
                item["princibles"] = principals  # vmcatcher 0.6's spelling, kept (ADR 0018)
            output.append(item)
        return _dump(output)
    return _text(
        f"'{record.identifier}'\t'{dn}'\t'{ca}'"
        for record in records
        for dn, ca in record.principals
    )


def render_links(records: Sequence[LinkRecord], fmt: str) -> str:
    """``-K``: ``'<endorser>'\\t'<subscription>'\\t'<authorised>'`` per link."""
    if fmt == "json":
        return _dump(
            [
                {"endorser": r.endorser, "subscription": r.subscription, "authorised": r.authorised}
                for r in records
            ]
        )
    return _text(f"'{r.endorser}'\t'{r.subscription}'\t'{r.authorised}'" for r in records)


def render_endorser_info(record: EndorserRecord, fmt: str) -> str:
    """``-i``: the endorser, its principals and the subscriptions it may sign."""
    if fmt == "json":
        return _dump(
            {
                "identifier": record.identifier,
                "principals": [{"subject": dn, "issuer": ca} for dn, ca in record.principals],
                # vmcatcher 0.6's key, kept for its readers (ADR 0018)
                "Princables": [{"hv:dn": dn, "hv:ca": ca} for dn, ca in record.principals],
                "Subscription": [subscription_json(s) for s in record.subscriptions],
                **({"openpgp": list(record.openpgp)} if record.openpgp else {}),
            }
        )
    lines = [f"endorser.dc:identifier={record.identifier}"]
    for dn, ca in record.principals:
        lines += [f"endorser.hv:dn={dn}", f"endorser.hv:ca={ca}"]
    lines += [f"endorser.openpgp:fingerprint={fingerprint}" for fingerprint in record.openpgp]
    for subscription in record.subscriptions:
        lines += subscription_lines(subscription)
    return _text(lines)
