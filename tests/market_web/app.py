"""The marketplace application served by a real uvicorn on 127.0.0.1 (in a thread)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from imagelist.db.market import open_database
from imagelist.market.settings import MarketSettings
from imagelist.market.web import WebSettings, mount_web
from tests.market_web.nginx import free_port


def build_app(
    settings: MarketSettings, web_settings: WebSettings
) -> tuple[FastAPI, sessionmaker[Session]]:
    engine = open_database(settings.database_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    app = FastAPI()
    mount_web(app, settings, sessions, web_settings)
    return app, sessions


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
    settings = MarketSettings.embedded(base, trusted_proxies=("127.0.0.1",), **overrides)
    settings.ensure_dirs()
    web_settings = WebSettings.from_env(settings.data_dir, environ={})
    app, sessions = build_app(settings, web_settings)
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
