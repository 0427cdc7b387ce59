"""Writing a committed publication's files under ``<data dir>/store`` (ADR 0020).

:func:`after_commit` queues the files of a :class:`PublishedDocument` on the session; they are
written when the session commits (nothing when it rolls back). A directory's files are replaced
only by a higher ``hv:version``, under a lock on the directory, so two workers never go back.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
from sqlalchemy import event
from sqlalchemy.orm import Session

from ..db.market.models import PublishedDocument
from ..errors import MarketPublishError
from .storefiles import StoreDirectory

__all__ = ["after_commit", "write_document"]

logger = logging.getLogger(__name__)

_PENDING = "imagelist.market.pending_store"


@dataclass(frozen=True)
class _PendingWrite:
    store: Path
    directory: tuple[str, ...]
    hv_version: str
    smime: bytes
    json: bytes
    signature: bytes | None
    endorsed: bytes | None
    keeps_endorsed: bool


def after_commit(
    session: Session,
    store_root: Path,
    directory: tuple[str, ...],
    document: PublishedDocument,
    endorsed: bytes | None,
    keeps_endorsed: bool,
) -> None:
    pending: list[_PendingWrite] = session.info.setdefault(_PENDING, [])
    if not session.info.get(_PENDING + ".hooked"):
        session.info[_PENDING + ".hooked"] = True
        event.listen(session, "after_commit", _write_pending)
        event.listen(session, "after_rollback", _drop_pending)
    pending.append(
        _PendingWrite(
            store_root,
            directory,
            document.hv_version,
            document.smime,
            document.json,
            document.pgp_sig,
            endorsed,
            keeps_endorsed,
        )
    )


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _write_pending(session: Session) -> None:
    pending: list[_PendingWrite] = session.info.pop(_PENDING, [])
    for write in pending:
        try:
            _write(write)
        except MarketPublishError as exc:
            # The row is committed: the next publication (or resign) writes the files again.
            logger.error("published list %s not written: %s", "/".join(write.directory), exc)


def write_document(store_root: Path, directory: Sequence[str], document: PublishedDocument) -> None:
    """Write an already committed ``document``'s files (e.g. to restore a store from the DB)."""
    _write(
        _PendingWrite(
            store_root,
            tuple(directory),
            document.hv_version,
            document.smime,
            document.json,
            document.pgp_sig,
            None,
            False,
        )
    )


def _on_disk_version(store: StoreDirectory, directory: Sequence[str]) -> str | None:
    current = store.read([*directory, "image.list.json"])
    if current is None:
        return None
    try:
        value = orjson.loads(current.data)["hv:imagelist"]["hv:version"]
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) and value.isdigit() else None


def _write(write: _PendingWrite) -> None:
    store = StoreDirectory(write.store)
    with store.locked(write.directory):
        current = _on_disk_version(store, write.directory)
        if current is not None and int(current) >= int(write.hv_version):
            logger.info(
                "%s already holds version %s: %s not written",
                "/".join(write.directory),
                current,
                write.hv_version,
            )
            return
        if write.keeps_endorsed:
            endorsed_dir = (*write.directory, "endorsed")
            if write.endorsed is not None:
                store.write(endorsed_dir, {"image.list": write.endorsed})
            else:
                with contextlib.suppress(MarketPublishError):
                    store.remove(endorsed_dir, "image.list")
        files = {"image.list.json": write.json}
        if write.signature is not None:
            files["image.list.json.asc"] = write.signature
        files["image.list"] = write.smime
        store.write(write.directory, files)
        if write.signature is None:
            store.remove(write.directory, "image.list.json.asc")
