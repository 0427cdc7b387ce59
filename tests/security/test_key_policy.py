"""Attack: a signer (or a CA of its path) with a key anyone can factor, or an MD5 signature.

RSA below 2048 bits, EC below P-256 and MD5 anywhere in the path are refused (exit 11) by
default (issue 9.3). ``--min-rsa-bits`` lowers the RSA floor, never below 1024, and every key
accepted below 2048 bits is logged as a warning.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.key_cases import KEY_CASES, build_key_cases
from tests.pki import Credential, TestPki
from tests.subscriber.support import World, make_list


@pytest.fixture(scope="module")
def key_cases(
    test_pki: TestPki, openssl: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Credential, Path]]:
    return build_key_cases(test_pki, openssl, tmp_path_factory.mktemp("key-cases"))


def _serve(world: World, signer: Credential, trust_dir: Path, version: str = "2.0") -> None:
    world.site.register("weak", signer)
    assert world.site.endorser("--link", "-e", "weak", "-s", world.make().identifier).code == 0
    world.publish(
        make_list(signer, version=version, images=world.images, uri=world.url), signer=signer
    )
    world.site = replace(world.site, trust_dir=trust_dir)


@pytest.mark.parametrize(
    "case", [c for c in KEY_CASES if c.refusal is not None], ids=lambda case: case.id
)
def test_weak_key_or_md5_is_refused(world: World, key_cases: dict, case) -> None:  # type: ignore[no-untyped-def]
    signer, trust_dir = key_cases[case.id]
    _serve(world, signer, trust_dir)
    result = world.assert_refused(11)
    (line,) = result.out.strip().splitlines()
    assert case.refusal in line


def test_strong_ec_signer_is_accepted(world: World, key_cases: dict) -> None:  # type: ignore[type-arg]
    signer, trust_dir = key_cases["ec-p384-signer"]
    _serve(world, signer, trust_dir)
    result = world.update()
    assert result.code == 0, (result.out, result.err)


def test_lowered_floor_accepts_1024_bits_with_a_warning(
    world: World,
    key_cases: dict,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    signer, trust_dir = key_cases["rsa-1024-signer"]
    _serve(world, signer, trust_dir)
    result = world.update("--min-rsa-bits", "1024")
    assert result.code == 0, (result.out, result.err)
    warned = [r for r in caplog.records if r.levelname == "WARNING" and "RSA floor" in r.message]
    assert warned, "every key accepted below 2048 bits is logged as a warning"
    assert "1024-bit RSA key, accepted only because the RSA floor is lowered to 1024" in (
        warned[-1].getMessage()
    )


def test_lowered_floor_still_refuses_512_bits(world: World, key_cases: dict) -> None:  # type: ignore[type-arg]
    signer, trust_dir = key_cases["rsa-512-signer"]
    _serve(world, signer, trust_dir)
    result = world.assert_refused(11, "--min-rsa-bits", "1024")
    assert "512-bit RSA key; at least 1024 bits are required" in result.out


def test_floor_below_1024_is_a_usage_error(world: World) -> None:
    world.publish(world.make(version="2.0"))
    result = world.assert_refused(1, "--min-rsa-bits", "512")
    (line,) = result.err.strip().splitlines()
    assert "cannot be lowered below 1024 bits" in line
