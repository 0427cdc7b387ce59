"""The marketplace application served by a real uvicorn on 127.0.0.1 (in a thread)."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from imagelist.market.api.app import create_app
from imagelist.market.settings import MarketSettings
from imagelist.market.web import WebSettings
from tests.market_web.nginx import free_port


def build_app(settings: MarketSettings) -> tuple[FastAPI, sessionmaker[Session]]:
    """The market's own application (REST API, /store, pages), as ``imagelist-market serve``
    builds it in a worker: the web settings from the process environment (ADR 0028)."""
    app = create_app(settings, web_settings=WebSettings.from_env(settings.data_dir, os.environ))
    return app, app.state.market_web.sessions


@dataclass
class RunningApp:
    settings: MarketSettings
    web: WebSettings
    sessions: sessionmaker[Session]
    server: uvicorn.Server
    thread: threading.Thread
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def start_app(base: Path, **overrides: object) -> RunningApp:
    values: dict[str, object] = {"trusted_proxies": ("127.0.0.1",)}
    values.update(overrides)
    settings = MarketSettings.embedded(base, **values)
    settings.ensure_dirs()
    app, sessions = build_app(settings)
    web_settings = app.state.market_web.web
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return RunningApp(settings, web_settings, sessions, server, thread, port)
