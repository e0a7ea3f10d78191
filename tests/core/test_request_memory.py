"""A 100 MB body to any URL costs a real web process at most +50 MB of resident memory, on every entry point.

The scaled-out web command (`manage.py web`) and the embedded one (`manage.py serve`, with the dispatcher
and the emulator in the same process) are started as real processes; each gets 100 MB as multipart,
urlencoded and chunked bodies, with no login, to `/healthz`, the jobs API and a template page. Every one is
refused (413) and the process's peak resident memory (the kernel's high-water mark, reset before each
body) stays within the bound. A body just within the limit is read (to a spooled file) within it too.
"""

from __future__ import annotations

import socket
import subprocess
import threading

import pytest

from tests.memory import MB, peak_rss_growth
from tests.processes import free_port, manage, stop, wait_for_http

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

BOUND_MB = 50
BODY = 100 * MB
URLS = ["/healthz", "/api/v1/jobs/", "/t/portrait/"]
BOUNDARY = "comfyweb-test-boundary"


def body_parts(kind: str, size: int) -> tuple[str, bytes, bytes]:
    """(content type, head, tail) of a body whose middle is `size` bytes of filler."""
    if kind == "multipart":
        head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="photo"; filename="a.jpg"\r\n'
                "Content-Type: image/jpeg\r\n\r\n").encode()  # fmt: skip
        return f"multipart/form-data; boundary={BOUNDARY}", head, f"\r\n--{BOUNDARY}--\r\n".encode()
    return "application/x-www-form-urlencoded", b"note=", b""


def post_body(port: int, path: str, kind: str, size: int, *, chunked: bool) -> bytes:
    """POST a `size`-byte body over a raw socket, 1 MB at a time; the start of the answer.

    The answer is read by a thread from the start: a refusal may come, and the connection close, long
    before the body is sent.
    """
    content_type, head, tail = body_parts(kind, size)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(head) + size + len(tail)}"
    connection = socket.create_connection(("127.0.0.1", port), timeout=120)
    answer = bytearray()

    def read() -> None:
        try:
            while data := connection.recv(65536):
                answer.extend(data)
        except OSError:
            pass

    reader = threading.Thread(target=read)
    reader.start()

    def write(data: bytes) -> None:
        connection.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data)

    try:
        connection.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
                           f"{framing}\r\nConnection: close\r\n\r\n".encode())  # fmt: skip
        write(head)
        filler = b"a" * MB
        for _ in range(size // MB):
            if answer:
                break  # answered already: the rest would go nowhere
            write(filler)
        else:
            write(tail)
            if chunked:
                connection.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server closed the connection on a refused body
    reader.join(120)
    connection.close()
    return bytes(answer[:200])


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    folder = tmp_path_factory.mktemp("request-memory")
    env = {"DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}", "MEDIA_ROOT": str(folder / "media")}
    assert manage("migrate", "--noinput", env=env, stdout=subprocess.DEVNULL).wait(180) == 0
    return env


@pytest.fixture(params=["web", "serve"], scope="module")
def server(request, database, tmp_path_factory):
    """A real web process of each entry point, serving the site on a free port."""
    port = free_port()
    log = tmp_path_factory.mktemp("logs") / f"{request.param}.log"
    env = {**database, "LOG_LEVEL": "WARNING"}
    process = manage(request.param, "--host", "127.0.0.1", "--port", str(port), env=env, stdout=subprocess.DEVNULL,
                     stderr=log.open("w"))  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process=process, timeout=120)
        yield process, port
    finally:
        stop(process)


@pytest.mark.parametrize("path", URLS)
@pytest.mark.parametrize(("kind", "chunked"), [("multipart", False), ("urlencoded", False), ("multipart", True)])
def test_a_100_mb_body_is_refused_within_50_mb_of_memory(server, path, kind, chunked):
    process, port = server
    with peak_rss_growth(process.pid) as growth:
        answer = post_body(port, path, kind, BODY, chunked=chunked)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert growth.peak_mb <= BOUND_MB, f"{kind} to {path}: +{growth.peak_mb:.0f} MB"
    assert process.poll() is None


def test_a_body_within_the_limit_is_read_within_the_bound_too(server, settings):
    """Django takes a body it may read into a spooled file: within REQUEST_MAX_BYTES, memory stays bounded."""
    process, port = server
    size = settings.REQUEST_MAX_BYTES - MB
    with peak_rss_growth(process.pid) as growth:
        answer = post_body(port, "/healthz", "multipart", size, chunked=True)
    assert answer.startswith(b"HTTP/1.1 403"), answer  # read whole, then refused: /healthz takes no POST (CSRF)
    assert growth.peak_mb <= BOUND_MB, f"+{growth.peak_mb:.0f} MB"
