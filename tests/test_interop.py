"""Real image lists from the original tools' repositories (tests/data/interop, see PROVENANCE.md).

The samples are old: every check that involves a certificate pins the verification time (the
cloudkeeper "head" CA is valid 2018-02-19..2028-02-17, the "59d818b" one 2016-10-12..2021-10-11).
None of the samples ships a CRL, so the lists are checked with ``CrlPolicy.IF_PRESENT`` or with a
CRL made here from the cloudkeeper test key (public test material, auth/key.pem).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from imagelist.document import ImageList
from imagelist.errors import (
    CertificateRevokedError,
    CreatedInFutureError,
    CrlError,
    EndorserMismatchError,
    ListExpiredError,
    NamespacePolicyError,
    SignatureError,
    UntrustedSignerError,
    VerificationError,
)
from imagelist.smime import read_signed, sign_detached
from imagelist.trust import CrlPolicy, TrustStore, issuer_oneline, subject_oneline
from imagelist.verify import ListVerifier, check_dates
from tests.pki import TestPki, openssl_smime_verify

INTEROP = Path(__file__).resolve().parent / "data" / "interop"

CLOUDKEEPER = INTEROP / "cloudkeeper"
HEAD = CLOUDKEEPER / "head"
OLD = CLOUDKEEPER / "59d818b"
README_SMIME = INTEROP / "hepixvmitrust" / "readme_example_signed.smime"

AU_DN = "/C=AU/ST=Some-State/O=Internet Widgits Pty Ltd"
NARNIA_DN = "/C=NA/ST=Narnia/L=Aver/O=TEST/OU=TEST/CN=TEST"
FAKE_DN = "/DC=XXX/DC=YYY/C=ZZZ/O=Hosts/O=AA.net/CN=some.unknown.source"
FAKE_CA = "/DC=XXX/DC=YYY/CN=SOME TEST CA"
OWEN_DN = "/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge"
GRIDKA_DN = "/C=DE/O=GermanGrid/CN=GridKa-CA"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


HEAD_TIME = utc(2019, 1, 1)
OLD_TIME = utc(2017, 7, 14)
NOW_PINNED = utc(2026, 11, 26, 12, 0, 0)  # inside the head CA's validity (until 2028-02-17)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """One cloudkeeper snapshot: its directory, CA file, CA DN and a time the CA was valid."""

    directory: Path
    ca_file: str
    ca_dn: str
    at: dt.datetime

    @property
    def hash(self) -> str:
        return self.ca_file.split(".")[0]

    def lists(self) -> list[Path]:
        return [self.directory / f"imagelist0{n}.signed" for n in range(1, 5)]


SNAPSHOTS = {
    "head": Snapshot(HEAD, "9da13359.0", AU_DN, HEAD_TIME),
    "59d818b": Snapshot(OLD, "457f896a.0", NARNIA_DN, OLD_TIME),
}
SIGNED_LISTS = [
    pytest.param(name, n, id=f"{name}-imagelist0{n}") for name in SNAPSHOTS for n in range(1, 5)
]
INVALID = [
    pytest.param(HEAD / "imagelist_invalid.signed", id="head"),
    pytest.param(OLD / "imagelist_invalid.signed", id="59d818b"),
]
ALL_SIGNED_VALID = [
    *[pytest.param(HEAD / f"imagelist0{n}.signed", id=f"head-0{n}") for n in range(1, 5)],
    *[pytest.param(OLD / f"imagelist0{n}.signed", id=f"59d818b-0{n}") for n in range(1, 5)],
    pytest.param(README_SMIME, id="hepixvmitrust-readme"),
]
UNSIGNED = [
    pytest.param(INTEROP / "hepixvmitrust" / "imagelist.json", id="hepixvmitrust"),
    pytest.param(HEAD / "imagelist01.unsigned", id="cloudkeeper-unsigned"),
    pytest.param(INTEROP / "snf-vmcatcher" / "ImageListConfigTest.json", id="snf-vmcatcher"),
]


def trust_dir(tmp_path: Path, snapshot: Snapshot) -> Path:
    """A trust directory holding just the snapshot's CA (copied, as <hash>.0)."""
    directory = tmp_path / f"trust-{snapshot.hash}"
    directory.mkdir()
    shutil.copyfile(snapshot.directory / "ca" / snapshot.ca_file, directory / snapshot.ca_file)
    return directory


def head_credentials() -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    cert = x509.load_pem_x509_certificate((HEAD / "auth" / "cert.pem").read_bytes())
    key = serialization.load_pem_private_key((HEAD / "auth" / "key.pem").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return cert, key


def write_head_crl(
    directory: Path,
    *,
    around: dt.datetime,
    revoked_serials: tuple[int, ...] = (),
    days: int = 30,
) -> Path:
    """A CRL of the cloudkeeper head CA, signed with auth/key.pem, current at ``around``."""
    cert, key = head_credentials()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(cert.subject)
        .last_update(around - dt.timedelta(days=days))
        .next_update(around + dt.timedelta(days=days))
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
    )
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(around - dt.timedelta(days=days))
            .build()
        )
    crl = builder.sign(key, hashes.SHA256())
    path = directory / "9da13359.r0"
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return path


def wrapped(document: dict[str, Any]) -> dict[str, Any]:
    """The ``{"hv:imagelist": ...}`` form of a (possibly legacy, unwrapped) document."""
    return document if "hv:imagelist" in document else {"hv:imagelist": document}


def assert_one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text
    assert "\n" not in text
    assert "\r" not in text


def openssl_noverify(openssl: str, data: bytes) -> subprocess.CompletedProcess[bytes]:
    """``openssl smime -verify -noverify``: the digest and signature, no chain."""
    return subprocess.run(
        [openssl, "smime", "-verify", "-noverify"],
        input=data,
        capture_output=True,
        check=False,
        timeout=60,
    )


# ------------------------------------------------------------------------------------------
# The data itself


def test_samples_match_their_checksums() -> None:
    """The files are what the README describes (SHA256SUMS written when they were collected)."""
    lines = (INTEROP / "SHA256SUMS").read_text().splitlines()
    assert lines
    for line in lines:
        digest, name = line.split(maxsplit=1)
        data = (INTEROP / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name


# ------------------------------------------------------------------------------------------
# cloudkeeper: signature and trust path good, endorser DNs fake


@pytest.mark.parametrize(("snapshot_name", "n"), SIGNED_LISTS)
def test_cloudkeeper_signature_and_path_verify_but_endorser_mismatches(
    tmp_path: Path, snapshot_name: str, n: int
) -> None:
    snapshot = SNAPSHOTS[snapshot_name]
    data = snapshot.lists()[n - 1].read_bytes()
    ours = ListVerifier(
        TrustStore.load(trust_dir(tmp_path, snapshot)), crl_policy=CrlPolicy.IF_PRESENT
    )

    checked = ours.verify_message(data, at=snapshot.at)
    assert subject_oneline(checked.message.signer) == snapshot.ca_dn
    assert issuer_oneline(checked.message.signer) == snapshot.ca_dn
    assert checked.message.digest_algorithm == "sha256"
    assert checked.message.detached is True
    assert checked.chain == (checked.message.signer,)  # the signer is the self-signed CA

    with pytest.raises(EndorserMismatchError) as excinfo:
        ours.verify(data, at=snapshot.at)
    assert excinfo.value.exit_code == 12
    assert_one_line(excinfo.value)
    assert FAKE_DN in str(excinfo.value)
    assert snapshot.ca_dn in str(excinfo.value)


@pytest.mark.parametrize(("snapshot_name", "n"), SIGNED_LISTS)
def test_cloudkeeper_certificate_outside_its_validity(
    tmp_path: Path, snapshot_name: str, n: int
) -> None:
    """Pinning matters: the CAs were not valid before they were issued."""
    snapshot = SNAPSHOTS[snapshot_name]
    data = snapshot.lists()[n - 1].read_bytes()
    ours = ListVerifier(
        TrustStore.load(trust_dir(tmp_path, snapshot)), crl_policy=CrlPolicy.IF_PRESENT
    )
    with pytest.raises(VerificationError, match="not valid before") as excinfo:
        ours.verify_message(data, at=utc(2015, 1, 1))
    assert excinfo.value.exit_code == 11


def test_cloudkeeper_59d818b_is_expired_today(tmp_path: Path) -> None:
    snapshot = SNAPSHOTS["59d818b"]
    ours = ListVerifier(
        TrustStore.load(trust_dir(tmp_path, snapshot)), crl_policy=CrlPolicy.IF_PRESENT
    )
    with pytest.raises(VerificationError, match="expired at 2021-10-11"):
        ours.verify_message(snapshot.lists()[0].read_bytes(), at=NOW_PINNED)


@pytest.mark.parametrize("path", INVALID)
def test_cloudkeeper_invalid_lists_fail_the_signature(path: Path) -> None:
    with pytest.raises(SignatureError) as excinfo:
        read_signed(path.read_bytes())
    assert excinfo.type is SignatureError
    assert excinfo.value.exit_code == 11
    assert_one_line(excinfo.value)


@pytest.mark.peer
@pytest.mark.parametrize("path", [*INVALID, *ALL_SIGNED_VALID])
def test_signature_only_agrees_with_openssl(openssl: str, path: Path) -> None:
    """``openssl smime -verify -noverify`` is the oracle for the digest and signature."""
    data = path.read_bytes()
    proc = openssl_noverify(openssl, data)
    if "invalid" in path.name:
        assert proc.returncode != 0
        assert b"digest failure" in proc.stderr
        with pytest.raises(SignatureError):
            read_signed(data)
    else:
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        assert read_signed(data).payload == proc.stdout


@pytest.mark.parametrize("snapshot_name", list(SNAPSHOTS))
def test_cloudkeeper_rejected_without_crl_when_crls_are_required(
    tmp_path: Path, snapshot_name: str
) -> None:
    snapshot = SNAPSHOTS[snapshot_name]
    ours = ListVerifier(TrustStore.load(trust_dir(tmp_path, snapshot)))  # CrlPolicy.REQUIRE
    for path in snapshot.lists():
        with pytest.raises(CrlError) as excinfo:
            ours.verify_message(path.read_bytes(), at=snapshot.at)
        message = str(excinfo.value)
        assert excinfo.value.exit_code == 11
        assert_one_line(excinfo.value)
        assert snapshot.ca_dn in message
        assert f"{snapshot.hash}.r0" in message


# ------------------------------------------------------------------------------------------
# cloudkeeper head with a CRL made from its (public test) key


def test_cloudkeeper_with_own_crl_passes_with_crls_required(tmp_path: Path) -> None:
    snapshot = SNAPSHOTS["head"]
    directory = trust_dir(tmp_path, snapshot)
    write_head_crl(directory, around=HEAD_TIME)
    ours = ListVerifier(TrustStore.load(directory))  # CrlPolicy.REQUIRE
    for path in snapshot.lists():
        checked = ours.verify_message(path.read_bytes(), at=HEAD_TIME)
        assert subject_oneline(checked.message.signer) == AU_DN


@pytest.mark.peer
def test_cloudkeeper_with_own_crl_agrees_with_openssl(openssl: str, tmp_path: Path) -> None:
    snapshot = SNAPSHOTS["head"]
    directory = trust_dir(tmp_path, snapshot)
    write_head_crl(directory, around=HEAD_TIME)
    ours = ListVerifier(TrustStore.load(directory))
    for path in snapshot.lists():
        data = path.read_bytes()
        proc = openssl_smime_verify(openssl, data, directory, attime=int(HEAD_TIME.timestamp()))
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        assert ours.verify_message(data, at=HEAD_TIME).message.payload == proc.stdout


@pytest.mark.peer
@pytest.mark.parametrize(
    ("crl_time", "revoke_ca", "expected", "openssl_reason"),
    [
        pytest.param(utc(2018, 6, 1), False, CrlError, b"CRL has expired", id="stale-crl"),
        pytest.param(HEAD_TIME, True, CertificateRevokedError, b"revoked", id="ca-revoked"),
    ],
)
def test_cloudkeeper_with_bad_own_crl(
    openssl: str,
    tmp_path: Path,
    crl_time: dt.datetime,
    revoke_ca: bool,
    expected: type[VerificationError],
    openssl_reason: bytes,
) -> None:
    """A stale CRL, or a CRL revoking the (self-signed) signer: both verifiers reject."""
    snapshot = SNAPSHOTS["head"]
    directory = trust_dir(tmp_path, snapshot)
    cert, _ = head_credentials()
    write_head_crl(
        directory,
        around=crl_time,
        revoked_serials=(cert.serial_number,) if revoke_ca else (),
        days=10,
    )
    data = snapshot.lists()[0].read_bytes()
    proc = openssl_smime_verify(openssl, data, directory, attime=int(HEAD_TIME.timestamp()))
    assert proc.returncode != 0
    assert openssl_reason in proc.stderr
    for policy in CrlPolicy:
        with pytest.raises(VerificationError) as excinfo:
            ListVerifier(TrustStore.load(directory), crl_policy=policy).verify_message(
                data, at=HEAD_TIME
            )
        assert excinfo.type is expected
        assert_one_line(excinfo.value)


def _resigned_head_list() -> tuple[bytes, ImageList]:
    """cloudkeeper's imagelist01 with hv:dn/hv:ca of the real signer, re-signed with its key."""
    document = json.loads((HEAD / "imagelist01.unsigned").read_bytes())
    x509_part = document["hv:imagelist"]["hv:endorser"]["hv:x509"]
    x509_part["hv:dn"] = AU_DN
    x509_part["hv:ca"] = AU_DN
    payload = json.dumps(document, indent=3, ensure_ascii=False).encode("utf-8") + b"\n"
    cert, key = head_credentials()
    return sign_detached(payload, cert, key, digest="sha256"), ImageList.from_dict(document)


def test_resigned_cloudkeeper_list_passes_full_verify(tmp_path: Path) -> None:
    snapshot = SNAPSHOTS["head"]
    directory = trust_dir(tmp_path, snapshot)
    write_head_crl(directory, around=NOW_PINNED)
    signed, expected = _resigned_head_list()

    verified = ListVerifier(TrustStore.load(directory)).verify(signed, at=NOW_PINNED)
    assert verified.imagelist == expected
    assert verified.endorser.dn == verified.signer_dn == AU_DN
    assert verified.endorser.ca == verified.signer_ca == AU_DN
    assert verified.imagelist.vo == "some1.vo.net"
    assert [image.format for image in verified.imagelist.images] == ["OVA", "OVA"]
    check_dates(verified.imagelist, now=NOW_PINNED)  # created 2015, expires 2499


@pytest.mark.peer
def test_resigned_cloudkeeper_list_agrees_with_openssl(openssl: str, tmp_path: Path) -> None:
    directory = trust_dir(tmp_path, SNAPSHOTS["head"])
    write_head_crl(directory, around=NOW_PINNED)
    signed, _ = _resigned_head_list()
    proc = openssl_smime_verify(openssl, signed, directory, attime=int(NOW_PINNED.timestamp()))
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert read_signed(signed).payload == proc.stdout


def _head_policy_dir(tmp_path: Path, pattern: str) -> Path:
    directory = trust_dir(tmp_path, SNAPSHOTS["head"])
    write_head_crl(directory, around=NOW_PINNED)
    (directory / "9da13359.signing_policy").write_text(
        f"access_id_CA      X509         '{AU_DN}'\n"
        "pos_rights        globus        CA:sign\n"
        f"cond_subjects     globus       '\"{pattern}\"'\n"
    )
    return directory


def test_resigned_cloudkeeper_list_with_matching_signing_policy(tmp_path: Path) -> None:
    directory = _head_policy_dir(tmp_path, "/C=AU/ST=Some-State/*")
    store = TrustStore.load(directory)
    assert [len(ca.policies) for ca in store.cas] == [1]
    signed, _ = _resigned_head_list()
    assert ListVerifier(store).verify(signed, at=NOW_PINNED).signer_dn == AU_DN


def test_self_signed_signer_outside_its_own_signing_policy(tmp_path: Path) -> None:
    directory = _head_policy_dir(tmp_path, "/C=DE/*")
    signed, _ = _resigned_head_list()
    with pytest.raises(NamespacePolicyError):
        ListVerifier(TrustStore.load(directory)).verify(signed, at=NOW_PINNED)


# ------------------------------------------------------------------------------------------
# hepixvmitrust README example (signed by a GridKa user certificate, CA not available)


def test_readme_example_signature() -> None:
    message = read_signed(README_SMIME.read_bytes())
    assert message.digest_algorithm == "sha1"
    assert message.detached is True
    assert subject_oneline(message.signer) == OWEN_DN
    assert issuer_oneline(message.signer) == GRIDKA_DN
    assert message.signing_time == utc(2011, 6, 2, 17, 2, 37)
    # The Python 2 json ", " trailing spaces are part of the signed content.
    assert b'"dc:source": "example.org", \r\n' in message.payload

    imagelist = ImageList.from_bytes(message.payload)
    assert imagelist.endorser.dn == subject_oneline(message.signer)
    assert imagelist.endorser.ca == issuer_oneline(message.signer)
    assert imagelist.images[0].size == 2147483648


def test_readme_example_dates() -> None:
    imagelist = ImageList.from_bytes(read_signed(README_SMIME.read_bytes()).payload)
    check_dates(imagelist, now=utc(2011, 3, 20))
    with pytest.raises(CreatedInFutureError) as future:
        check_dates(imagelist, now=utc(2011, 3, 1))
    assert future.value.exit_code == 33
    with pytest.raises(ListExpiredError) as expired:
        check_dates(imagelist, now=NOW_PINNED)
    assert expired.value.exit_code == 34


def test_readme_example_matches_the_repository_json() -> None:
    """The signed README list is hepixvmitrust's imagelist.json but for the list's hv:uri."""
    signed = ImageList.from_bytes(read_signed(README_SMIME.read_bytes()).payload)
    plain = ImageList.from_bytes((INTEROP / "hepixvmitrust" / "imagelist.json").read_bytes())
    assert signed.uri == "https://example.org/example-image-list.image_list"
    assert plain.uri == "http://example.org/example-image-list.image_list"
    assert dataclasses.replace(plain, uri=signed.uri) == signed


@pytest.mark.peer
def test_readme_example_is_untrusted_here(test_pki: TestPki) -> None:
    with pytest.raises(UntrustedSignerError) as excinfo:
        ListVerifier(TrustStore.load(test_pki.trust_dir)).verify(README_SMIME.read_bytes())
    assert excinfo.type is UntrustedSignerError
    assert excinfo.value.exit_code == 11
    assert_one_line(excinfo.value)
    assert GRIDKA_DN in str(excinfo.value)


# ------------------------------------------------------------------------------------------
# Documents: every sample parses and round-trips unchanged


@pytest.mark.parametrize("path", UNSIGNED)
def test_unsigned_samples_parse_and_round_trip(path: Path) -> None:
    raw = path.read_bytes()
    document = wrapped(json.loads(raw))
    imagelist = ImageList.from_dict(document)
    assert imagelist.images
    assert imagelist.dropped_images == ()
    assert imagelist.to_dict() == document
    assert ImageList.from_dict(copy.deepcopy(document)).to_dict() == json.loads(raw)
    assert ImageList.from_bytes(raw) == imagelist


@pytest.mark.parametrize("path", ALL_SIGNED_VALID)
def test_signed_payloads_parse_and_round_trip(path: Path) -> None:
    payload = read_signed(path.read_bytes()).payload
    document = wrapped(json.loads(payload))
    imagelist = ImageList.from_bytes(payload)
    assert imagelist.images
    assert imagelist.dropped_images == ()
    assert imagelist.warnings == ()
    assert ImageList.from_dict(document).to_dict() == document
    assert imagelist.to_dict() == document


@pytest.mark.parametrize(
    "path",
    [
        *[pytest.param(p, id=f"head-{p.name}") for p in SNAPSHOTS["head"].lists()],
        *[pytest.param(p, id=f"59d818b-{p.name}") for p in SNAPSHOTS["59d818b"].lists()],
        pytest.param(HEAD / "imagelist01.unsigned", id="head-unsigned"),
        pytest.param(INTEROP / "snf-vmcatcher" / "ImageListConfigTest.json", id="snf"),
    ],
)
def test_appdb_shape_is_kept(path: Path) -> None:
    raw = path.read_bytes()
    payload = raw if path.suffix != ".signed" else read_signed(raw).payload
    document = json.loads(payload)
    imagelist = ImageList.from_bytes(payload)
    body = document["hv:imagelist"]
    list_extras = {key for key in body if key.startswith("ad:")}
    assert list_extras  # ad:vo or ad:swid
    assert list_extras <= set(imagelist.unrecognized_fields)
    for image, wrapper in zip(imagelist.images, body["hv:images"], strict=True):
        raw_image = wrapper["hv:image"]
        assert isinstance(raw_image["hv:size"], str)
        assert image.size == int(raw_image["hv:size"])
        assert image.to_dict()["hv:size"] == raw_image["hv:size"]  # still a string
        ad_keys = {key for key in raw_image if key.startswith("ad:")}
        assert ad_keys
        assert ad_keys <= set(image.unrecognized_fields)
        assert image.format == raw_image["hv:format"]
        assert image.mpuri == raw_image["ad:mpuri"]
        if "dc:date:expires" in raw_image:
            assert image.unrecognized_fields["dc:date:expires"] == raw_image["dc:date:expires"]
    per_image_expiry = ["dc:date:expires" in w["hv:image"] for w in body["hv:images"]]
    # Only the head snapshot carries the per-image expiry (README #3 vs #7).
    assert all(per_image_expiry) is (path.parent == HEAD)


# ------------------------------------------------------------------------------------------
# MIME canonicalisation against real data


def test_signed_payload_is_the_unsigned_file_in_crlf_form() -> None:
    unsigned = (HEAD / "imagelist01.unsigned").read_bytes()
    signed = (HEAD / "imagelist01.signed").read_bytes()
    payload = read_signed(signed).payload
    assert b"\r\n" not in unsigned
    # openssl smime -sign signed the file with its final line end: exact CRLF conversion.
    assert payload == unsigned.replace(b"\n", b"\r\n")
    # Our own signer puts the final line end into the MIME framing instead ("modulo the final
    # line end"): the rest is byte for byte what cloudkeeper's openssl signed.
    cert, key = head_credentials()
    ours = read_signed(sign_detached(unsigned, cert, key)).payload
    assert ours == payload.removesuffix(b"\r\n")
    # The JSON part of the raw file is CRLF, its MIME headers LF (README, notes for testers).
    assert signed.startswith(b"MIME-Version: 1.0\nContent-Type: multipart/signed;")
    assert payload in signed
