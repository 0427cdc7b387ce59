"""The market's secret files are private: the session key, the OIDC client secret, the SMTP
password.

Whoever reads the session key forges a session for any person. A key file that group or others
may read (or a link planted under its name) is refused with MarketSettingsError (exit 87), one
line naming the file, as every other secret file of the project (signing keys, the OCI
credentials, the marketplace token); nothing is served with it.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from imagelist.errors import MarketSettingsError
from imagelist.market.api.app import create_app
from imagelist.market.settings import MarketSettings
from imagelist.market.web.settings import load_secret

SECRET = b"k" * 48


def _settings(tmp_path: Path) -> tuple[MarketSettings, Path]:
    settings = MarketSettings.embedded(tmp_path / "market")
    settings.ensure_dirs()
    return settings, settings.data_dir / "web-session.key"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_readable_session_key_is_refused(tmp_path: Path, mode: int) -> None:
    settings, key = _settings(tmp_path)
    key.write_bytes(SECRET)
    key.chmod(mode)
    with pytest.raises(MarketSettingsError) as refused:
        create_app(settings)
    message = str(refused.value)
    assert str(key) in message
    assert "too open" in message
    assert "\n" not in message
    assert refused.value.exit_code == 87
    assert key.read_bytes() == SECRET  # left as it was


def test_a_link_planted_as_the_session_key_is_refused(tmp_path: Path) -> None:
    settings, key = _settings(tmp_path)
    elsewhere = tmp_path / "elsewhere.key"
    elsewhere.write_bytes(SECRET)
    elsewhere.chmod(0o600)
    key.symlink_to(elsewhere)
    with pytest.raises(MarketSettingsError, match=r"web-session\.key"):
        create_app(settings)


def test_a_private_key_and_a_new_one_are_used(tmp_path: Path) -> None:
    settings, key = _settings(tmp_path)
    create_app(settings)  # made on first start, 0600
    assert os.stat(key).st_mode & 0o777 == 0o600
    made = key.read_bytes()
    create_app(settings)
    assert key.read_bytes() == made


@pytest.mark.parametrize("mode", [0o644, 0o660])
def test_readable_oidc_and_smtp_secrets_are_refused(tmp_path: Path, mode: int) -> None:
    secret = tmp_path / "client-secret"
    secret.write_bytes(b"s3cret")
    secret.chmod(mode)
    with pytest.raises(MarketSettingsError, match="too open"):
        load_secret(secret, min_length=1)
    secret.chmod(0o600)
    assert load_secret(secret, min_length=1) == b"s3cret"


def _start_together(path: Path, workers: int) -> list[bytes | Exception]:
    """``load_secret(path, create=True)`` in ``workers`` threads released at the same moment."""
    barrier = threading.Barrier(workers)
    results: list[bytes | Exception] = []

    def start() -> None:
        barrier.wait()
        try:
            results.append(load_secret(path, create=True))
        except Exception as exc:  # any refusal is the defect
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_workers_starting_together_share_one_whole_secret(tmp_path: Path) -> None:
    """Several serve workers create the session key at once: each gets the same complete
    secret; none reads a file another has created but not yet written (it used to be created
    empty, then written, so a second worker could read it empty and refuse to start)."""
    for attempt in range(20):
        path = tmp_path / f"run{attempt}" / "session.key"
        results = _start_together(path, 8)
        assert len(set(results)) == 1, results
        assert results[0] == path.read_bytes().strip()
        assert len(results[0]) >= 16
        assert sorted(p.name for p in path.parent.iterdir()) == ["session.key"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
