"""GnuPG as the independent OpenPGP peer: keys made with ``gpg --batch --quick-gen-key`` in a
throwaway GNUPGHOME, signatures made with ``gpg --detach-sign``, and ``gpgv``/``sqv`` as oracles.

:class:`Keyring` makes the keys the tests need: a good one, one that has expired (made and used
with ``--faked-system-time`` in 2020), one revoked after signing, and one whose signing flag was
withdrawn after signing (``change-usage``), so that only a check made *now* refuses them.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.peers import require_peer

#: A time long past: an "expired" key is made, used and expires then.
PAST = "20200101T000000"
PAST_SIGN = "20200101T010000"


def find(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        require_peer(name, "not on PATH (Debian package gpg / gpgv / sqv)")
    return path


@dataclass(frozen=True)
class Key:
    """One gpg key: its e-mail (the gpg handle), fingerprint and exported files."""

    email: str
    fingerprint: str
    public: Path  # armored certificate (gpg --export --armor)
    secret: Path  # armored secret key (gpg --export-secret-keys --armor), no passphrase


class Keyring:
    """A GNUPGHOME under a tmp path and the keys made in it."""

    def __init__(self, home: Path) -> None:
        self.gpg = find("gpg")
        self.home = home
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.out = home / "exported"
        self.out.mkdir(exist_ok=True)

    def run(self, *args: str, stdin: bytes | None = None, faked: str | None = None) -> bytes:
        argv = [self.gpg, "--homedir", str(self.home), "--batch", "--yes", "--no-tty"]
        if faked:
            argv += ["--faked-system-time", faked]
        done = subprocess.run(
            [*argv, *args], input=stdin, capture_output=True, check=False, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"gpg {' '.join(args)}: {done.stderr.decode(errors='replace')}")
        return done.stdout

    def fingerprint(self, email: str) -> str:
        listing = self.run("--with-colons", "--list-keys", email).decode()
        return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))

    def generate(
        self,
        name: str,
        *,
        algo: str = "ed25519",
        usage: str = "sign",
        expire: str = "never",
        faked: str | None = None,
        passphrase: str = "",
    ) -> Key:
        email = f"{name}@openpgp.test"
        self.run(
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            passphrase,
            "--quick-gen-key",
            f"{name} <{email}>",
            algo,
            usage,
            expire,
            faked=faked,
        )
        return self.export(email, passphrase=passphrase)

    def add_subkey(self, key: Key, usage: str, expire: str, *, faked: str | None = None) -> Key:
        """``gpg --quick-add-key`` an ed25519 subkey for ``usage``."""
        self.run(
            "--pinentry-mode", "loopback", "--passphrase", "",
            "--quick-add-key", key.fingerprint, "ed25519", usage, expire, faked=faked,
        )  # fmt: skip
        return self.export(key.email)

    def export(self, email: str, *, passphrase: str = "") -> Key:
        fingerprint = self.fingerprint(email)
        public = self.out / f"{email}.pub.asc"
        secret = self.out / f"{email}.sec.asc"
        public.write_bytes(self.run("--armor", "--export", email))
        secret.touch(mode=0o600)
        secret.chmod(0o600)  # read like the X.509 key: private to its owner
        secret.write_bytes(
            self.run(
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                passphrase,
                "--armor",
                "--export-secret-keys",
                email,
            )
        )
        return Key(email, fingerprint, public, secret)

    def sign(self, key: Key, data: Path, *, faked: str | None = None, armor: bool = True) -> Path:
        """``gpg --detach-sign`` (binary-document signature) of ``data`` with ``key``."""
        target = data.with_name(data.name + f".{key.email}.{'asc' if armor else 'sig'}")
        args = ["--local-user", key.fingerprint, "--detach-sign", "--output", str(target)]
        if armor:
            args.insert(0, "--armor")
        self.run("--pinentry-mode", "loopback", "--passphrase", "", *args, str(data), faked=faked)
        return target

    def revoke(self, key: Key) -> Key:
        """Import the revocation certificate gpg stored at generation (reason: unspecified)."""
        stored = self.home / "openpgp-revocs.d" / f"{key.fingerprint}.rev"
        text = stored.read_text().replace(":-----BEGIN", "-----BEGIN")
        self.run("--import", stdin=text.encode())
        return self.export(key.email)

    def withdraw_signing(self, key: Key) -> Key:
        """Make the primary key certification-only (``--expert --edit-key ... change-usage``)."""
        self.run(
            "--expert",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--command-fd",
            "0",
            "--edit-key",
            key.fingerprint,
            stdin=b"change-usage\nS\nQ\nsave\n",
        )
        return self.export(key.email)

    def dearmor(self, armored: Path) -> Path:
        target = armored.with_suffix(".gpg")
        target.write_bytes(self.run("--dearmor", stdin=armored.read_bytes()))
        return target


def gpgv(
    keyring: Keyring, cert: Path, signature: Path, data: Path
) -> subprocess.CompletedProcess[str]:
    """``gpgv --keyring CERT SIG DATA`` (gpgv wants a binary keyring)."""
    return subprocess.run(
        [find("gpgv"), "--keyring", str(keyring.dearmor(cert)), str(signature), str(data)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def sqv(cert: Path, signature: Path, data: Path) -> subprocess.CompletedProcess[str]:
    """``sqv --keyring CERT SIG DATA`` (Sequoia's verifier, as Debian ships it)."""
    return subprocess.run(
        [find("sqv"), "--keyring", str(cert), str(signature), str(data)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
