"""The verifier facade: order of checks, endorser matching, dates, and a fuzz over whole lists."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagelist.document import ImageList, format_date
from imagelist.errors import (
    CreatedInFutureError,
    DocumentError,
    EndorserMismatchError,
    ImageListError,
    ListExpiredError,
    SignatureError,
)
from imagelist.smime import sign_detached
from imagelist.trust import TrustStore
from imagelist.verify import ListVerifier, check_dates
from tests.pki import Credential, TestPki

NOW = datetime.now(UTC).replace(microsecond=0)


def _document(endorsers: list[dict[str, str]] | dict[str, str], **overrides: object) -> bytes:
    body: dict[str, object] = {
        "dc:identifier": "list-1",
        "dc:title": "t",
        "dc:description": "d",
        "dc:source": "s",
        "dc:date:created": format_date(NOW - timedelta(hours=1)),
        "dc:date:expires": format_date(NOW + timedelta(days=1)),
        "hv:version": "1",
        "hv:uri": "https://example.org/l",
        "hv:endorser": (
            [{"hv:x509": e} for e in endorsers]
            if isinstance(endorsers, list)
            else {"hv:x509": endorsers}
        ),
        "hv:images": [],
    }
    body.update(overrides)
    return json.dumps({"hv:imagelist": body}, indent=4).encode()


def _x509(cred: Credential, **overrides: str) -> dict[str, str]:
    entry = {
        "hv:dn": cred.subject_oneline,
        "hv:ca": cred.issuer_oneline,
        "hv:email": "e@example.org",
        "dc:creator": "c",
    }
    entry.update(overrides)
    return entry


@pytest.fixture(scope="module")
def verifier(test_pki: TestPki) -> ListVerifier:
    return ListVerifier(TrustStore.load(test_pki.trust_dir))


def _sign(cred: Credential, payload: bytes) -> bytes:
    return sign_detached(payload, cred.cert, cred.key)


def test_valid_list(verifier: ListVerifier, test_pki: TestPki) -> None:
    verified = verifier.verify(_sign(test_pki.good, _document(_x509(test_pki.good))))
    assert verified.signer_dn == test_pki.good.subject_oneline
    assert verified.signer_ca == test_pki.intermediate.subject_oneline
    assert verified.endorser.dn == test_pki.good.subject_oneline
    assert verified.payload.startswith(b'{\r\n    "hv:imagelist"')
    assert len(verified.chain) == 3


def test_endorser_array_picks_the_signer(verifier: ListVerifier, test_pki: TestPki) -> None:
    other = _x509(test_pki.direct)
    verified = verifier.verify(
        _sign(test_pki.good, _document([other, _x509(test_pki.good, **{"dc:creator": "me"})]))
    )
    assert verified.endorser.creator == "me"
    assert isinstance(verified.imagelist.to_dict()["hv:imagelist"]["hv:endorser"], dict)


def test_dn_mismatch_names_both(verifier: ListVerifier, test_pki: TestPki) -> None:
    payload = _document(_x509(test_pki.good, **{"hv:dn": "/DC=org/CN=Someone Else"}))
    with pytest.raises(EndorserMismatchError) as info:
        verifier.verify(_sign(test_pki.good, payload))
    assert "/DC=org/CN=Someone Else" in str(info.value)
    assert test_pki.good.subject_oneline in str(info.value)
    assert info.value.exit_code == 12


def test_ca_mismatch(verifier: ListVerifier, test_pki: TestPki) -> None:
    payload = _document(_x509(test_pki.good, **{"hv:ca": test_pki.root.subject_oneline}))
    with pytest.raises(EndorserMismatchError):
        verifier.verify(_sign(test_pki.good, payload))


def test_signature_checked_before_document(verifier: ListVerifier, test_pki: TestPki) -> None:
    # A broken document from an untrusted signer is a trust failure first, as vmcatcher (§1.5).
    with pytest.raises(ImageListError) as info:
        verifier.verify(_sign(test_pki.untrusted_endorser, b"not json"))
    assert info.value.exit_code == 11
    with pytest.raises(DocumentError):
        verifier.verify(_sign(test_pki.good, b"not json"))


def test_check_dates_boundaries(test_pki: TestPki) -> None:
    imagelist = ImageList.from_bytes(_document(_x509(test_pki.good)))
    check_dates(imagelist, now=imagelist.created)
    check_dates(imagelist, now=imagelist.expires)
    with pytest.raises(CreatedInFutureError, match="created in the future") as early:
        check_dates(imagelist, now=imagelist.created - timedelta(seconds=1))
    assert early.value.exit_code == 33
    with pytest.raises(ListExpiredError, match="expired at") as late:
        check_dates(imagelist, now=imagelist.expires + timedelta(seconds=1))
    assert late.value.exit_code == 34
    check_dates(imagelist)


@pytest.fixture(scope="module")
def signed_list(test_pki: TestPki) -> bytes:
    return _sign(test_pki.good, _document(_x509(test_pki.good)))


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    position=st.integers(min_value=0),
    replacement=st.binary(max_size=6),
    delete=st.integers(min_value=0, max_value=4),
)
def test_fuzz_whole_verifier(
    verifier: ListVerifier, signed_list: bytes, position: int, replacement: bytes, delete: int
) -> None:
    index = position % len(signed_list)
    mutated = signed_list[:index] + replacement + signed_list[index + delete :]
    try:
        result = verifier.verify(mutated)
    except ImageListError as exc:
        assert "\n" not in str(exc)  # noqa: PT017
    else:
        assert result.payload == verifier.verify(signed_list).payload


def test_tampered_json_is_a_signature_error(verifier: ListVerifier, signed_list: bytes) -> None:
    with pytest.raises(SignatureError):
        verifier.verify(signed_list.replace(b'"list-1"', b'"list-2"'))
