"""A list accepted under the ``openpgp`` policy is stored as its ``.json``: the cache index and
vmcatcher_status read it like a stored S/MIME list (ADR 0021)."""

from __future__ import annotations

import logging

import pytest

from imagelist.cache.plan import read_stored_list
from imagelist.companions import is_openpgp_only, stored_payload
from imagelist.monitoring.status import _message
from imagelist.smime import signed_content
from tests.pki import TestPki
from tests.subscriber.support import make_image, make_list, sign


def test_the_cache_and_status_read_a_stored_json(
    test_pki: TestPki, caplog: pytest.LogCaptureFixture
) -> None:
    imagelist = make_list(test_pki.good, images=[make_image("img-a")])
    json_bytes = signed_content(imagelist.to_json_bytes())
    smime = sign(imagelist, test_pki.good)
    assert is_openpgp_only(json_bytes)
    assert not is_openpgp_only(smime)
    assert stored_payload(json_bytes) == stored_payload(smime) == json_bytes
    with caplog.at_level(logging.WARNING):
        stored = read_stored_list(json_bytes)
        title, signer = _message(json_bytes, None)
    assert set(stored.images) == {"img-a"}
    assert stored.images == read_stored_list(smime).images
    assert (title, signer) == ("Test list", None)
    assert "cannot be read again" not in caplog.text
