"""vmcaster's service: the endorser's database, image and list uploads, transports.

The modules, in the order data flows through them:

- :mod:`.store`: image lists, images, endorsers, their keys and links (one transaction each)
- :mod:`.importing`: JSON and S/MIME imports, ``--download-imagelist``
- :mod:`.upload`: ``--upload-image`` (one-pass SHA-512, new ``hv:uri``, version bump)
- :mod:`.publish`: ``--upload-imagelist`` (checks, signing, atomic upload, then the database)
- :mod:`.credentials`: the signing certificate and key, passphrases
- :mod:`.config` and :mod:`.transports`: ``vmcaster.cfg`` and the ``local``/``scp``/``gsidcap``/
  ``command`` transfers
- :mod:`.streaming`: chunked hashing and copying
- :mod:`.example`: a complete publication in a few lines (used by the demo)

Nothing is imported here, so that each command loads only what it uses.
"""
