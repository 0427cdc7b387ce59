"""The application of an ``imagelist-market serve`` worker takes every setting from the
mapping it is given (ADR 0028); ``app_from_env`` gives it the process environment."""

from __future__ import annotations

from pathlib import Path

from imagelist.market.worker import app_from_environ


def test_the_worker_app_is_built_from_the_mapping_given(tmp_path: Path) -> None:
    home = tmp_path / "market"
    app = app_from_environ(
        {
            "IMAGELIST_MARKET_HOME": str(home),
            "IMAGELIST_MARKET_RUN_JOBS": "0",
            "IMAGELIST_MARKET_MAX_EXPIRY_MONTHS": "7",
            "IMAGELIST_MARKET_OIDC_LABEL": "Test Check-in",
            "IMAGELIST_OCI_PLAIN_HTTP": "registry.test:5000",
        }
    )
    try:
        settings = app.state.settings
        assert settings.data_dir == home.resolve() / "data"
        assert settings.max_expiry_months == 7
        assert settings.registry_access.plain_http == frozenset({"registry.test:5000"})
        assert app.state.runner is None  # IMAGELIST_MARKET_RUN_JOBS=0
        assert app.state.market_web.web.oidc_label == "Test Check-in"
        assert (home / "market.db").is_file()
    finally:
        app.state.engine.dispose()


def test_the_worker_runs_jobs_unless_told_not_to(tmp_path: Path) -> None:
    app = app_from_environ({"IMAGELIST_MARKET_HOME": str(tmp_path / "market")})
    try:
        assert app.state.runner is not None
        assert app.state.market_web.web.oidc_label == "EGI Check-in"  # the default
    finally:
        app.state.engine.dispose()
