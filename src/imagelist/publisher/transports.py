"""Putting a file where a public URI will serve it: ``local``, ``scp``, ``gsidcap``, ``command``.

Every transport replaces its target *atomically* where the protocol allows it: the data goes to
a temporary name beside the target (``<target>.tmp-<random>``) and is then renamed over it, so a
subscriber sees either the old file or the new one, never a missing or half-written one, and a
failed transfer leaves the published file as it was (vmcaster 0.0.x deleted the old list first,
defect D18). External programs run from argument vectors, never through a local shell; the
only shell involved is the remote one of ``ssh host mv``, and its arguments are quoted.

Published files are made world-readable (mode 0644): they are meant to be served over HTTP. Until
the rename, the temporary copy is private (0600) where we create it, and it is removed when the
transfer fails or vmcaster is interrupted (Ctrl-C, SIGTERM; not SIGKILL).

Targets never leave the section's uriReplace directory (:meth:`ServerSection.remote_path`), the
``local`` transport also refuses a directory reached through a symbolic link that leads out of
it, and every path handed to a program is absolute or follows ``--``, so a file named
``--rsh=...`` is never read as an option.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import PublishConfigError, UploadFailedError, UploadPathError
from ..fileio import create_exclusive, fsync_directory
from .config import ServerSection
from .processes import (
    _best_effort,
    _run,
    _temporary_name,
    expand_template,
    interrupt_on_sigterm,
)
from .streaming import Digest, ProgressCallback, copy_hashing

__all__ = [
    "SSH_CONFIG_ENV",
    "CommandTransport",
    "GsiDcapTransport",
    "LocalTransport",
    "ScpTransport",
    "StagedUpload",
    "Transport",
    "expand_template",
    "interrupt_on_sigterm",
    "make_transport",
]

logger = logging.getLogger(__name__)

#: An ssh client configuration file given to every ``scp``/``ssh`` call as ``-F FILE``.
SSH_CONFIG_ENV = "VMCASTER_SSH_CONFIG"
PUBLISHED_MODE = 0o644
#: The mode of a partial upload we create, until it is renamed over the target.
PARTIAL_MODE = 0o600
_SAFE_REMOTE_PATH = re.compile(r"[A-Za-z0-9._/~+@%=:,-]+")


@dataclass
class StagedUpload:
    """A file copied beside its target, not yet visible under the target's name."""

    digest: Digest
    temporary: Path
    target: Path

    def commit(self) -> None:
        """Make the copy readable, rename it over the target (atomic), make that durable."""
        try:
            os.chmod(self.temporary, PUBLISHED_MODE, follow_symlinks=False)
            os.replace(self.temporary, self.target)
        except OSError as exc:
            self.discard()
            raise UploadFailedError(f"cannot rename into {self.target}: {exc.strerror}") from None
        with contextlib.suppress(OSError):  # some filesystems refuse fsync on directories
            fsync_directory(self.target.parent)
        logger.info("published %s", self.target)

    def discard(self) -> None:
        """Remove the copy; the target is left as it was."""
        self.temporary.unlink(missing_ok=True)


class Transport(ABC):
    """Uploads to the server of one vmcaster.cfg section."""

    #: True when :meth:`stage` can copy and hash in one pass (the file is read by us).
    streams = False

    def __init__(self, section: ServerSection, environ: Mapping[str, str]) -> None:
        self.section = section
        self.environ: Mapping[str, str] = environ

    def target(self, uri: str) -> str:
        """The protocol-level target of a public URI (uriMatch → uriReplace)."""
        return self.section.remote_path(uri)

    @abstractmethod
    def put(self, source: Path, uri: str) -> str:
        """Replace the file behind ``uri`` by ``source``, atomically where possible.

        Returns the target written. Raises UploadFailedError (exit 77) if the transfer fails;
        the previous file is then unchanged.
        """

    def stage(
        self, source: Path, uri: str, progress: ProgressCallback | None = None
    ) -> StagedUpload:
        """Copy and hash ``source`` beside the target of ``uri`` (transports that stream)."""
        raise NotImplementedError(f"protocol {self.section.protocol} does not stream")

    def put_many(self, files: Sequence[tuple[Path, str]]) -> list[str]:
        """Publish several files together (the list last: its companions go first, ADR 21).

        This default publishes them one after the other, each atomically; a failure stops
        before the next (so before the list). ``local`` and ``scp`` copy every file first and
        rename them only when all copies succeeded.
        """
        return [self.put(source, uri) for source, uri in files]


class LocalTransport(Transport):
    """A directory on this machine (or a mounted file system): ``uriReplace`` is a path prefix."""

    streams = True

    @staticmethod
    def _local(path: str) -> str:
        return path[len("file://") :] if path.startswith("file://") else path

    def _path(self, uri: str) -> Path:
        target = Path(self._local(self.target(uri)))
        # The target's directory, symbolic links resolved, must still be under the root's.
        root = os.path.realpath(self._local(self.section.root) or ".")
        parent = os.path.realpath(target.parent)
        if os.path.commonpath([root, parent]) != root:
            raise UploadPathError(
                f"section [{self.section.name}] in {self.section.source}: {uri} leads to "
                f"{parent}, outside {root}"
            )
        return target

    def stage(
        self, source: Path, uri: str, progress: ProgressCallback | None = None
    ) -> StagedUpload:
        target = self._path(uri)
        temporary = Path(_temporary_name(str(target)))
        try:
            fd = create_exclusive(temporary, PARTIAL_MODE)
        except OSError as exc:
            raise UploadFailedError(
                f"cannot create a file beside {target}: {exc.strerror}"
            ) from None
        try:
            try:
                os.fchmod(fd, PARTIAL_MODE)
                digest = copy_hashing(source, fd, progress)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            where = exc.filename or target
            raise UploadFailedError(f"cannot copy {source} to {where}: {exc.strerror}") from None
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return StagedUpload(digest, temporary, target)

    def put(self, source: Path, uri: str) -> str:
        staged = self.stage(source, uri)
        try:
            staged.commit()
        except BaseException:
            staged.discard()
            raise
        return str(staged.target)

    def put_many(self, files: Sequence[tuple[Path, str]]) -> list[str]:
        """Copy every file beside its target first, then rename them in order."""
        staged: list[StagedUpload] = []
        try:
            for source, uri in files:
                staged.append(self.stage(source, uri))
            for upload in staged:
                upload.commit()
        except BaseException:
            for upload in staged:
                upload.discard()
            raise
        return [str(upload.target) for upload in staged]


class ScpTransport(Transport):
    """``uriReplace`` gives ``[user@]host:/path``; the system ``scp`` and ``ssh`` do the work.

    The user's ssh configuration, keys and agent apply; ``$VMCASTER_SSH_CONFIG`` adds
    ``-F FILE``. The file is copied to a temporary name, made readable and renamed by
    ``ssh host 'chmod a+r TMP && mv -f TMP PATH'`` (the remote side needs a POSIX shell; a
    directory at PATH is refused rather than moved into).
    """

    def _ssh_options(self) -> list[str]:
        config = self.environ.get(SSH_CONFIG_ENV)
        return ["-F", config] if config else []

    def _split(self, target: str) -> tuple[str, str]:
        host, sep, path = target.partition(":")
        if not sep or not host or "/" in host or host.startswith("-") or not path:
            raise PublishConfigError(
                f"{self.section.source}: section [{self.section.name}]: scp target {target!r} "
                "is not [user@]host:path"
            )
        if not _SAFE_REMOTE_PATH.fullmatch(path) or path.startswith("-"):
            raise PublishConfigError(
                f"scp target path {path!r} has characters that are not safe on a remote shell"
            )
        return host, path

    def _ssh(self, host: str, command: str) -> list[str]:
        return ["ssh", *self._ssh_options(), "--", host, command]

    def put(self, source: Path, uri: str) -> str:
        target = self.target(uri)
        host, path = self._split(target)
        temporary = _temporary_name(path)
        what = f"scp upload to {target}"
        try:
            _run(
                [
                    "scp",
                    "-q",
                    *self._ssh_options(),
                    "--",
                    str(source.absolute()),
                    f"{host}:{temporary}",
                ],
                what,
                self.environ,
            )
            quoted_tmp, quoted_path = shlex.quote(temporary), shlex.quote(path)
            _run(
                self._ssh(
                    host,
                    # mv onto a directory would move the file into it: refuse that instead.
                    f"if test -d {quoted_path}; then echo {quoted_path} is a directory >&2; "
                    f"exit 1; fi; chmod a+r -- {quoted_tmp} && mv -f -- {quoted_tmp} "
                    f"{quoted_path}",
                ),
                what,
                self.environ,
            )
        except BaseException:  # a failure, Ctrl-C or SIGTERM: remove the partial copy
            _best_effort(self._ssh(host, f"rm -f -- {shlex.quote(temporary)}"), self.environ)
            raise
        logger.info("published %s", target)
        return target

    def put_many(self, files: Sequence[tuple[Path, str]]) -> list[str]:
        """scp every file to a temporary name, then one ssh command renames them all in order."""
        if len({self._split(self.target(uri))[0] for _, uri in files}) != 1:
            return super().put_many(files)
        host = self._split(self.target(files[0][1]))[0]
        moves: list[tuple[str, str]] = []
        try:
            for source, uri in files:
                path = self._split(self.target(uri))[1]
                moves.append((_temporary_name(path), path))
                _run(
                    ["scp", "-q", *self._ssh_options(), "--", str(source.absolute()),
                     f"{host}:{moves[-1][0]}"],
                    f"scp upload to {self.target(uri)}",
                    self.environ,
                )  # fmt: skip
            checks = "".join(
                f"if test -d {shlex.quote(path)}; then echo {shlex.quote(path)} is a directory "
                ">&2; exit 1; fi; "
                for _, path in moves
            )
            renames = " && ".join(
                f"chmod a+r -- {shlex.quote(tmp)} && mv -f -- {shlex.quote(tmp)} "
                f"{shlex.quote(path)}"
                for tmp, path in moves
            )
            _run(self._ssh(host, checks + renames), f"scp upload to {host}", self.environ)
        except BaseException:
            leftovers = " ".join(shlex.quote(tmp) for tmp, _ in moves)
            if leftovers:
                _best_effort(self._ssh(host, f"rm -f -- {leftovers}"), self.environ)
            raise
        targets = [f"{host}:{path}" for _, path in moves]
        logger.info("published %s", ", ".join(targets))
        return targets


class GsiDcapTransport(Transport):
    """dCache through ``dccp`` (``uriReplace`` gives a ``gsidcap://`` URL prefix).

    The file is copied with ``dccp -C 3000 -d 2 -A`` to a temporary name, then renamed with
    GNU ``mv -T`` under ``LD_PRELOAD`` of the dCap library (``pdcapPreload``). If dCache refuses the
    rename, the upload fails and the published file stays as it was. Untested against a real
    dCache (none is available to the test suite).
    """

    def _dccp(self) -> str:
        dccp = shutil.which("dccp", path=self.environ.get("PATH", os.defpath))
        if dccp is None:
            raise UploadFailedError(
                "protocol gsidcap needs the dccp program: install the dCache client "
                "(package dcap, with dcap-tunnel-gsi for GSI)"
            )
        return dccp

    def _preload_env(self) -> dict[str, str]:
        env = dict(self.environ)
        preload = str(self.section.options.get("pdcapPreload", ""))
        if preload:
            env["LD_PRELOAD"] = preload
        return env

    def put(self, source: Path, uri: str) -> str:
        dccp = self._dccp()
        target = self.target(uri)
        temporary = _temporary_name(target)
        what = f"gsidcap upload to {target}"
        env = self._preload_env()
        try:
            _run(
                [dccp, "-C", "3000", "-d", "2", "-A", str(source.absolute()), temporary],
                what,
                self.environ,
            )
            _run(["mv", "-f", "-T", "--", temporary, target], what, env)
        except BaseException:
            _best_effort(["rm", "-f", "--", temporary], env)
            raise
        return target


class CommandTransport(Transport):
    """Any copy program, from the argument-vector template ``command`` (``{src}``, ``{dest}``).

    With ``renameCommand`` the copy goes to a temporary name and that template then renames
    it (``{src}`` = the temporary name, ``{dest}`` = the target); without it the command
    writes the target directly and atomicity is the program's (rsync's default is atomic).
    ``{src}`` is always an absolute path; placeholders are substituted once
    (:func:`expand_template`).
    """

    _expand = staticmethod(expand_template)

    def put(self, source: Path, uri: str) -> str:
        source = source.absolute()
        target = self.target(uri)
        if target.startswith("-"):
            raise PublishConfigError(
                f"{self.section.source}: section [{self.section.name}]: target {target!r} "
                "would be read as an option: make uriReplace absolute"
            )
        command: Sequence[str] = self.section.options["command"]
        rename: Sequence[str] | None = self.section.options.get("renameCommand")
        what = f"command upload to {target}"
        if rename is None:
            _run(self._expand(command, str(source), target), what, self.environ)
            return target
        temporary = _temporary_name(target)
        _run(self._expand(command, str(source), temporary), what, self.environ)
        try:
            _run(self._expand(rename, temporary, target), what, self.environ)
        except BaseException:
            logger.warning("the copy may be left at %s: remove it by hand", temporary)
            raise
        return target


_TRANSPORTS: dict[str, Callable[[ServerSection, Mapping[str, str]], Transport]] = {
    "local": LocalTransport,
    "scp": ScpTransport,
    "gsidcap": GsiDcapTransport,
    "command": CommandTransport,
}


def make_transport(section: ServerSection, environ: Mapping[str, str]) -> Transport:
    """The transport for a section's ``protocol`` (validated when the config was read)."""
    if section.protocol == "marketplace":
        from .marketplace import MarketplaceTransport

        return MarketplaceTransport(section, environ)
    return _TRANSPORTS[section.protocol](section, environ)
