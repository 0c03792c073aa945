"""The labs' tinyproxy (bizpbx_lab.proxy), run for real on loopback: it serves the addresses it
allows, refuses the others, and is stopped by its pid file. Root and tinyproxy are needed."""

from __future__ import annotations

import http.server
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bizpbx_lab.proxy import ensure_proxy, proxy_pid, stop_proxy
from local_net import free_port

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("tinyproxy") is None, reason="tinyproxy runs as its own user: root and Debian's tinyproxy are needed"
)


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello through the proxy")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def origin():
    server = http.server.HTTPServer(("127.0.0.1", free_port()), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


@pytest.fixture
def directory():
    # Under /tmp itself: the tinyproxy user must reach its pid file (pytest's tmp_path is root's alone).
    path = Path(tempfile.mkdtemp(prefix="bizpbx-proxy-test-"))
    yield path
    stop_proxy(path)
    shutil.rmtree(path)


def fetch(url: str, port: int) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{port}"}))
    try:
        with opener.open(url, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def test_the_proxy_serves_the_allowed_hosts_only_and_stops(directory: Path, origin: str):
    allowed_port, other_port = free_port(), free_port()
    ensure_proxy(directory, "127.0.0.1", allowed_port, ("127.0.0.1",), "test: loopback allowed")
    assert fetch(origin, allowed_port) == (200, b"hello through the proxy")
    first = proxy_pid(directory)
    ensure_proxy(directory, "127.0.0.1", allowed_port, ("127.0.0.1",), "test: loopback allowed")
    assert proxy_pid(directory) == first  # running already: not a second one
    stop_proxy(directory)
    assert proxy_pid(directory) is None

    ensure_proxy(directory, "127.0.0.1", other_port, ("192.0.2.1",), "test: loopback not allowed")
    assert fetch(origin, other_port)[0] == 403
