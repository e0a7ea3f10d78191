"""Shared fixtures for the jobs tests: the shipped workflows, pictures, API clients, a Redis of a test's own."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from comfyweb.jobs.relay.layer import ReconnectAwarePubSubChannelLayer
from tests.services import RedisServer, fresh_postgres_database

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def photo(fmt: str = "PNG", size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 140, 200)).save(out, format=fmt)
    return out.getvalue()


def noise_photo(size: tuple[int, int] = (200, 200)) -> bytes:
    """A PNG that does not compress: its bytes grow with its pixels."""
    out = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def shipped_workflows(db):
    """Every template of workflows/*.json, imported like `loaddemo` does."""
    from comfyweb.catalog.services import import_templates

    entries = []
    for path in sorted(WORKFLOWS.glob("*.json")):
        entries.extend(json.loads(path.read_text(encoding="utf-8")))
    return {t.slug: t for t in import_templates(entries, enable=True)}


@pytest.fixture
def poster(shipped_workflows):
    """poster-frame: a required photo, a select of numbers with labels, a number on a 0.05 grid."""
    return shipped_workflows["poster-frame"]


@pytest.fixture
def couple(shipped_workflows):
    """couple-photo: groups, a text, a character gallery (or upload) and a background photo."""
    return shipped_workflows["couple-photo"]


@pytest.fixture
def staff(admin_client):
    """The admin, reading its pages in English."""
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return admin_client


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient()


class LoopbackServer:
    """A tiny HTTP server on 127.0.0.1: `routes` maps a path to (status, headers, body)."""

    def __init__(self) -> None:
        import http.server
        import threading

        routes: dict[str, tuple[int, dict, bytes]] = {}
        self.routes = routes
        self.requests: list[tuple[str, dict]] = []
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                requests.append((self.path, dict(self.headers)))
                status, headers, body = routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loopback():
    server = LoopbackServer()
    yield server
    server.stop()


@pytest.fixture
def postgres_database():
    """A fresh database for this test, dropped afterwards."""
    with fresh_postgres_database("comfyweb_scale") as url:
        yield url


@pytest.fixture
def redis_server():
    """A Redis of the test's own, which it may kill and start again."""
    server = RedisServer().start()
    yield server
    server.stop()


def layer_on(server: RedisServer) -> ReconnectAwarePubSubChannelLayer:
    """The site's channel layer on `server`, failing fast while it is down."""
    return ReconnectAwarePubSubChannelLayer(hosts=[{"address": server.url, "socket_connect_timeout": 2}])
