"""S/MIME framing and CMS checks, and how malformed input is refused."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagelist.errors import (
    ImageListError,
    MimeFormatError,
    SignatureError,
    SignerCountError,
    UsageError,
    VerificationError,
)
from imagelist.smime import canonicalize_crlf, read_signed, sign_detached, stored_signer
from tests.pki import TestPki, cached_key, make_endorser

PAYLOAD = b'{\n    "hv:imagelist": {\n        "dc:title": "x"\n    }\n}\n'


@pytest.fixture(scope="module")
def signed(test_pki: TestPki) -> bytes:
    return sign_detached(PAYLOAD, test_pki.good.cert, test_pki.good.key)


def _boundary(message: bytes) -> bytes:
    match = re.search(rb'boundary="([^"]+)"', message)
    assert match
    return match.group(1)


def _signature_b64(message: bytes) -> bytes:
    match = re.search(rb'filename="smime.p7s"\n\n(.*?)\n--', message, re.S)
    assert match
    return match.group(1)


def test_canonicalize_crlf() -> None:
    assert canonicalize_crlf(b"a\nb\r\nc\r\r\nd") == b"a\r\nb\r\nc\r\nd"


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha384", "sha512"])
def test_round_trip_each_digest(test_pki: TestPki, digest: str) -> None:
    message = sign_detached(PAYLOAD, test_pki.good.cert, test_pki.good.key, digest=digest)
    micalg = {"sha1": "sha1"}.get(digest, f"sha-{digest[3:]}")
    assert f'micalg="{micalg}"'.encode() in message
    result = read_signed(message)
    assert result.payload == canonicalize_crlf(PAYLOAD).removesuffix(b"\r\n")
    assert result.signer == test_pki.good.cert
    assert result.certificates == (test_pki.good.cert,)  # only the signer, as M2Crypto wrote
    assert result.digest_algorithm == digest
    assert result.detached
    assert result.signing_time is not None


def test_layout_is_what_the_old_tools_wrote(signed: bytes) -> None:
    head, _, _ = signed.partition(b"\n\n")
    assert head.startswith(b"MIME-Version: 1.0\nContent-Type: multipart/signed;")
    assert b'protocol="application/pkcs7-signature"' in head
    assert re.fullmatch(rb"----[0-9A-F]{32}", _boundary(signed))
    assert b"This is an S/MIME signed message\n" in signed
    assert b'{\r\n    "hv:imagelist": {\r\n' in signed  # content in CRLF, headers in LF
    assert signed.endswith(b"--" + _boundary(signed) + b"--\n\n")


def test_signing_time_is_recorded(test_pki: TestPki) -> None:
    when = datetime(2020, 5, 17, 8, 30, tzinfo=UTC)
    message = sign_detached(PAYLOAD, test_pki.good.cert, test_pki.good.key, signing_time=when)
    assert read_signed(message).signing_time == when


def test_ec_signer(test_pki: TestPki) -> None:
    cred = make_endorser(
        test_pki.intermediate,
        "/DC=org/DC=imagelist-test/O=Endorsers/CN=EC Endorser",
        not_before=test_pki.now.replace(year=test_pki.now.year - 1),
        not_after=test_pki.now.replace(year=test_pki.now.year + 1),
        key_type="ec",
    )
    assert isinstance(cred.key, ec.EllipticCurvePrivateKey)
    assert read_signed(sign_detached(PAYLOAD, cred.cert, cred.key)).signer == cred.cert


def test_unsupported_digest_and_key(test_pki: TestPki) -> None:
    with pytest.raises(UsageError, match="unsupported signature digest"):
        sign_detached(PAYLOAD, test_pki.good.cert, test_pki.good.key, digest="md5")
    from cryptography.hazmat.primitives.asymmetric import ed25519

    with pytest.raises(UsageError, match="RSA and EC"):
        sign_detached(PAYLOAD, test_pki.good.cert, ed25519.Ed25519PrivateKey.generate())


def test_crlf_and_lf_framing_both_read(signed: bytes) -> None:
    crlf = signed.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert read_signed(crlf).payload == read_signed(signed).payload
    lf_content = signed.replace(b"\r\n", b"\n")
    assert read_signed(lf_content).payload == read_signed(signed).payload


def test_x_pkcs7_signature_protocol_accepted(signed: bytes) -> None:
    renamed = signed.replace(b"application/pkcs7-signature", b"application/x-pkcs7-signature")
    assert read_signed(renamed).payload


def test_opaque_pkcs7_mime(signed: bytes, test_pki: TestPki) -> None:
    # Re-wrap the detached signature as an opaque message with the content inside.
    blob = base64.b64decode(re.sub(rb"\s", b"", _signature_b64(signed)))
    info = cms.ContentInfo.load(blob)
    content = read_signed(signed).payload
    info["content"]["encap_content_info"]["content"] = content
    opaque = (
        b"MIME-Version: 1.0\nContent-Type: application/pkcs7-mime; smime-type=signed-data; "
        b'name="smime.p7m"\nContent-Transfer-Encoding: base64\n\n'
        + base64.encodebytes(info.dump(force=True))
    )
    result = read_signed(opaque)
    assert result.payload == content
    assert not result.detached


def _tamper_signature(signed: bytes, edit: object) -> bytes:
    b64 = _signature_b64(signed)
    info = cms.ContentInfo.load(base64.b64decode(re.sub(rb"\s", b"", b64)))
    edit(info)  # type: ignore[operator]
    return signed.replace(b64, base64.encodebytes(info.dump(force=True)).rstrip(b"\n"))


def test_two_signers_refused(signed: bytes) -> None:
    def duplicate(info: cms.ContentInfo) -> None:
        infos = info["content"]["signer_infos"]
        info["content"]["signer_infos"] = cms.SignerInfos([infos[0], infos[0]])

    with pytest.raises(SignerCountError, match="2 signers"):
        read_signed(_tamper_signature(signed, duplicate))


def test_no_signer_refused(signed: bytes) -> None:
    def drop(info: cms.ContentInfo) -> None:
        info["content"]["signer_infos"] = cms.SignerInfos([])

    with pytest.raises(SignerCountError, match="0 signers"):
        read_signed(_tamper_signature(signed, drop))


def test_signer_certificate_missing(signed: bytes) -> None:
    def drop(info: cms.ContentInfo) -> None:
        info["content"]["certificates"] = cms.CertificateSet([])

    with pytest.raises(SignerCountError, match="no certificate"):
        read_signed(_tamper_signature(signed, drop))


def test_wrong_certificate_in_message(signed: bytes, test_pki: TestPki) -> None:
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding

    other = asn1_x509.Certificate.load(test_pki.revoked.cert.public_bytes(Encoding.DER))

    def swap(info: cms.ContentInfo) -> None:
        info["content"]["certificates"] = cms.CertificateSet([other])

    with pytest.raises(SignerCountError, match="no certificate"):
        read_signed(_tamper_signature(signed, swap))


def test_signature_value_altered(signed: bytes) -> None:
    def flip(info: cms.ContentInfo) -> None:
        signer = info["content"]["signer_infos"][0]
        value = bytearray(signer["signature"].native)
        value[10] ^= 0xFF
        signer["signature"] = bytes(value)

    with pytest.raises(SignatureError, match="does not verify"):
        read_signed(_tamper_signature(signed, flip))


def test_unsupported_digest_in_message(signed: bytes) -> None:
    def md5(info: cms.ContentInfo) -> None:
        info["content"]["signer_infos"][0]["digest_algorithm"] = {"algorithm": "md5"}

    with pytest.raises(SignatureError, match="unsupported digest"):
        read_signed(_tamper_signature(signed, md5))


def test_content_type_attribute_mismatch(signed: bytes) -> None:
    def retype(info: cms.ContentInfo) -> None:
        attrs = info["content"]["signer_infos"][0]["signed_attrs"]
        for attr in attrs:
            if attr["type"].native == "content_type":
                attr["values"] = ["signed_data"]

    with pytest.raises(SignatureError, match="content-type"):
        read_signed(_tamper_signature(signed, retype))


def test_missing_digest_attribute(signed: bytes) -> None:
    def strip(info: cms.ContentInfo) -> None:
        signer = info["content"]["signer_infos"][0]
        kept = [a for a in signer["signed_attrs"] if a["type"].native != "message_digest"]
        signer["signed_attrs"] = cms.CMSAttributes(kept)

    with pytest.raises(SignatureError, match="message-digest"):
        read_signed(_tamper_signature(signed, strip))


def test_tampered_content(signed: bytes) -> None:
    with pytest.raises(SignatureError, match="content digest"):
        read_signed(signed.replace(b'"x"', b'"y"'))


def test_key_type_mismatch(signed: bytes) -> None:
    def ecdsa(info: cms.ContentInfo) -> None:
        info["content"]["signer_infos"][0]["signature_algorithm"] = {"algorithm": "sha256_ecdsa"}

    with pytest.raises(SignatureError, match="does not fit"):
        read_signed(_tamper_signature(signed, ecdsa))


BROKEN = {
    "empty": b"",
    "whitespace": b"   \n\n ",
    "no header break": b"MIME-Version: 1.0",
    "unsigned json": b'{"hv:imagelist": {}}\n\n',
    "plain text": b"Content-Type: text/plain\n\nhello\n",
    "no boundary": b"Content-Type: multipart/signed\n\nbody\n",
    "truncated": None,
    "one part": None,
    "three parts": None,
    "base64 garbage": None,
    "empty signature": None,
    "truncated signature": None,
    "not cms": None,
    "wrong second part": None,
    "quoted-printable": None,
    "opaque without content": None,
    "opaque garbage": b"Content-Type: application/pkcs7-mime\n\n!!!!\n",
    "envelope not signed": None,
}


def _broken(name: str, signed: bytes) -> bytes:
    fixed = BROKEN[name]
    if fixed is not None:
        return fixed
    boundary = _boundary(signed)
    b64 = _signature_b64(signed)
    if name == "truncated":
        return signed[: len(signed) // 2]
    if name == "one part":
        return signed.split(b"--" + boundary + b"\nContent-Type")[0] + b"--" + boundary + b"--\n"
    if name == "three parts":
        return signed.replace(
            b"--" + boundary + b"--", b"--" + boundary + b"\n\nextra\n--" + boundary + b"--"
        )
    if name == "base64 garbage":
        return signed.replace(b64, b"%%%%not-base64%%%%")
    if name == "empty signature":
        return signed.replace(b64, b"")
    if name == "truncated signature":
        return signed.replace(b64, b64[: len(b64) // 3].rstrip(b"\n") + b"==")
    if name == "not cms":
        return signed.replace(b64, base64.encodebytes(b"\x30\x03\x02\x01\x01").rstrip())
    if name == "wrong second part":
        return signed.replace(b"Content-Type: application/pkcs7-signature", b"Content-Type: text/x")
    if name == "quoted-printable":
        return signed.replace(
            b"Content-Transfer-Encoding: base64", b"Content-Transfer-Encoding: 7bit"
        )
    if name == "opaque without content":
        return b"Content-Type: application/pkcs7-mime\n\n" + b64 + b"\n"
    if name == "envelope not signed":
        envelope = cms.ContentInfo({"content_type": "data", "content": b"hello"}).dump()
        return b"Content-Type: application/pkcs7-mime\n\n" + base64.encodebytes(envelope)
    raise AssertionError(name)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_malformed_input_is_one_line_error(name: str, signed: bytes) -> None:
    with pytest.raises(VerificationError) as info:
        read_signed(_broken(name, signed))
    assert info.value.exit_code == 11
    assert "\n" not in str(info.value)
    assert isinstance(info.value, MimeFormatError | SignatureError | SignerCountError)


def test_detached_message_that_also_embeds_content(signed: bytes) -> None:
    def embed(info: cms.ContentInfo) -> None:
        info["content"]["encap_content_info"]["content"] = b"other"

    with pytest.raises(MimeFormatError, match="also embeds"):
        read_signed(_tamper_signature(signed, embed))


def test_large_payload(test_pki: TestPki) -> None:
    payload = b'{"x": "' + b"a" * (50 * 1024 * 1024) + b'"}'
    message = sign_detached(payload, test_pki.good.cert, test_pki.good.key)
    assert len(read_signed(message).payload) == len(payload)
    with pytest.raises(SignatureError):
        read_signed(message.replace(b"aaaa", b"aaab", 1))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=4096))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    try:
        read_signed(data)
    except ImageListError as exc:
        assert "\n" not in str(exc)  # noqa: PT017


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(position=st.integers(min_value=0), replacement=st.binary(min_size=0, max_size=8))
def test_fuzz_mutated_message(signed: bytes, position: int, replacement: bytes) -> None:
    index = position % len(signed)
    mutated = signed[:index] + replacement + signed[index + len(replacement) :]
    try:
        result = read_signed(mutated)
    except ImageListError as exc:
        assert "\n" not in str(exc)  # noqa: PT017
    else:
        # Anything that still verifies must carry the original content exactly.
        assert result.payload == read_signed(signed).payload


def test_key_reuse_across_helpers() -> None:
    assert cached_key("rsa", "smime-test") is cached_key("rsa", "smime-test")


def test_stray_carriage_returns_are_canonicalised_as_openssl_does(signed: bytes) -> None:
    # OpenSSL strips every CR before a line end: "a\r\r\n" is hashed as "a\r\n".
    doubled = signed.replace(b"{\r\n", b"{\r\r\n", 1)
    assert read_signed(doubled).payload == read_signed(signed).payload


def test_stored_signer_is_the_verified_signer(signed: bytes, test_pki: TestPki) -> None:
    assert stored_signer(signed) == read_signed(signed).signer == test_pki.good.cert


def test_stored_signer_of_an_opaque_message(signed: bytes) -> None:
    blob = base64.b64decode(re.sub(rb"\s", b"", _signature_b64(signed)))
    info = cms.ContentInfo.load(blob)
    info["content"]["encap_content_info"]["content"] = read_signed(signed).payload
    opaque = (
        b"MIME-Version: 1.0\nContent-Type: application/pkcs7-mime; smime-type=signed-data\n"
        b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(info.dump(force=True))
    )
    assert stored_signer(opaque) == read_signed(signed).signer


def test_stored_signer_is_for_reports_only_it_does_not_verify(signed: bytes) -> None:
    """A tampered signature still names its certificate; read_signed is the only trust check."""

    def break_signature(info: cms.ContentInfo) -> None:
        signer_info = info["content"]["signer_infos"][0]
        value = bytearray(signer_info["signature"].native)
        value[-1] ^= 0x01
        signer_info["signature"] = bytes(value)

    tampered = _tamper_signature(signed, break_signature)
    with pytest.raises(VerificationError):
        read_signed(tampered)
    assert stored_signer(tampered) == read_signed(signed).signer


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        ("two signers", SignerCountError, "2 signers"),
        ("no certificate", SignerCountError, "no certificate"),
    ],
)
def test_stored_signer_refuses_what_names_no_single_signer(
    signed: bytes, edit: str, error: type[Exception], match: str
) -> None:
    def apply(info: cms.ContentInfo) -> None:
        if edit == "two signers":
            infos = info["content"]["signer_infos"]
            info["content"]["signer_infos"] = cms.SignerInfos([infos[0], infos[0]])
        else:
            info["content"]["certificates"] = cms.CertificateSet([])

    with pytest.raises(error, match=match):
        stored_signer(_tamper_signature(signed, apply))
    with pytest.raises(MimeFormatError):
        stored_signer(b"Content-Type: text/plain\n\nnot signed\n")
