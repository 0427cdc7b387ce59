"""Running ``vmcatcher_status`` in-process against a test site."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

from imagelist.cli import vmcatcher_status
from tests.subscriber.support import Result, Site


def status(
    site: Site, *args: str, cache_dir: Path | None = None, cert_dir: Path | None = None
) -> Result:
    """``vmcatcher_status -d DB -c TRUST -C CACHE ARGS``."""
    argv = [*args, "-d", site.database, "-c", str(cert_dir or site.trust_dir)]
    argv += ["-C", str(cache_dir) if cache_dir is not None else "/nonexistent/cache"]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = vmcatcher_status.main(argv)
    return Result(code, out.getvalue(), err.getvalue())


def status_json(site: Site, *args: str, **options: Any) -> dict[str, Any]:
    result = status(site, "-f", "json", *args, **options)
    assert result.code == 0, result.err
    assert result.err == ""
    document: dict[str, Any] = json.loads(result.out)
    return document
