"""Images in OCI registries (docs/oci.md, ADR 0022).

* :mod:`.reference`: ``oci://HOST[:PORT]/REPO[:TAG][@sha256:HEX]``.
* :mod:`.access`: credentials file, CA bundle, plain-http hosts.
* :mod:`.client`: the distribution API on ``requests`` (auth challenges, manifests hashed,
  blobs streamed, tags paginated); :mod:`.push` uploads.
* :mod:`.manifest`: image manifests and the choice of the disk layer.
* :mod:`.blobs`: pinned ``oci://`` images for the cache's download engine.
* :mod:`.describe`: an image in a registry as a list entry (for endorsers).
* :mod:`.cosign`: cosign key-pair signatures, verified offline.
* :mod:`.annotations`: EGI's annotations into list fields and atrope's Glance properties.
"""
