"""vmcatcher_endorser from the command line."""

from __future__ import annotations

import json

from tests.subscriber.conftest import server, sqlite_site, sqlite_url  # noqa: F401
from tests.subscriber.support import Site, build_world

DN1, DN2, CA = "/DC=org/CN=One", "/DC=org/CN=Two", "/DC=org/CN=CA"


def test_create_pairs_dns_with_issuers(sqlite_site: Site) -> None:  # noqa: F811
    site = sqlite_site
    result = site.endorser("-C", "-e", "Alvaro Simon", "--dn", DN1, "-S", DN2, "-I", CA)
    assert result.code == 0
    assert "2 principal(s) added" in result.err
    assert site.endorser("-l").out == (
        f"'Alvaro Simon'\t'{DN1}'\t'{CA}'\n'Alvaro Simon'\t'{DN2}'\t'{CA}'\n"
    )
    again = site.endorser("-C", "-e", "Alvaro Simon", "--dn", DN1, "-I", CA)
    assert again.code == 0
    assert "0 principal(s) added" in again.err
    taken = site.endorser("-C", "-e", "someone", "--dn", DN1, "-I", CA)
    assert taken.code == 12
    assert "already registered to endorser 'Alvaro Simon'" in taken.err
    assert (
        site.endorser(
            "-C", "-e", "x", "--dn", DN1, "--dn", "/x", "-I", "/a", "-I", "/b", "-I", "/c"
        ).code
        == 1
    )
    assert site.endorser("-C", "-e", "x", "-I", CA).code == 1
    assert site.endorser("-C", "-e", "x", "--dn", "/y").code == 1
    assert site.endorser("-C", "--dn", "/y", "-I", CA).code == 1
    assert site.endorser("-C", "-e", "bad\nid", "--dn", "/y", "-I", CA).code == 1
    assert site.endorser("-C", "-e", " ", "--dn", "/y", "-I", CA).code == 1
    listed = json.loads(site.endorser("-l", "-f", "json").out)
    pairs = [{"issuer": CA, "subject": DN1}, {"issuer": CA, "subject": DN2}]
    assert listed == [
        {"endorser": "Alvaro Simon", "principals": pairs, "princibles": pairs},
    ], "the fixed key, and 0.6's spelling kept for its scripts (ADR 0018)"


def test_links_info_and_delete(sqlite_site: Site, server, test_pki) -> None:  # noqa: F811

    world = build_world(sqlite_site, server, test_pki.good)
    site = world.site
    identifier = world.make().identifier
    site.endorser("-C", "-e", "other", "--dn", DN1, "-I", CA)
    assert site.endorser("-k", "-e", "other", "-s", identifier).code == 0
    assert site.endorser("-k", "-e", "other", "-s", identifier).code == 0
    assert site.endorser("-K").out == (
        f"'endorser-1'\t'{identifier}'\t'True'\n'other'\t'{identifier}'\t'True'\n"
    )
    links = json.loads(site.endorser("-K", "-f", "json").out)
    assert links[1] == {"authorised": True, "endorser": "other", "subscription": identifier}
    info = site.endorser("-i", "-e", "other").out
    assert info.startswith(
        f"endorser.dc:identifier=other\nendorser.hv:dn={DN1}\nendorser.hv:ca={CA}\n"
    )
    assert f"subscription.dc:identifier={identifier}" in info
    as_json = json.loads(site.endorser("-i", "-e", "other", "-f", "json").out)
    assert as_json["Princables"] == [{"hv:ca": CA, "hv:dn": DN1}]
    assert as_json["principals"] == [{"issuer": CA, "subject": DN1}]
    assert site.endorser("-u", "-e", "other", "-s", identifier).code == 0
    assert site.endorser("-u", "-e", "other", "-s", identifier).code == 1
    assert site.endorser("-k", "-e", "nobody", "-s", identifier).code == 1
    assert site.endorser("-k", "-e", "other", "-s", "nothing").code == 1
    assert site.endorser("-k", "-e", "other").code == 1
    assert site.endorser("-i").code == 1
    assert site.endorser("-D").code == 1
    assert site.endorser("-D", "-e", "other").code == 0
    assert site.endorser("-D", "-e", "other").code == 1
    # Unlinking the endorser that signed the accepted list retires its images.
    assert site.endorser("-u", "-e", "endorser-1", "-s", identifier).code == 0
    assert site.image("-l").out == f"img-a\t1\t{identifier}\nimg-b\t0\t{identifier}\n"
    assert world.update().code == 13
