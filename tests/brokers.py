"""Real unreachable brokers for tests: a closed local port (connection refused) and a port that
accepts connections but never answers (a hung broker). No mocks: the app's publish meets the real
network failure.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

# Sockets bound by closed_port(), kept open for the life of the test process.
_reserved: list[socket.socket] = []


def closed_port() -> int:
    """A local port that refuses connections. The socket stays bound without listening (a connect
    to it is refused, as to a stopped broker) for the rest of the process, so no other process —
    the other xdist worker's hung_port() or a server it starts — can take the port meanwhile, as it
    could when the socket was closed again at once."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    _reserved.append(s)
    return s.getsockname()[1]


@contextmanager
def _listening(*, name: str, on_connect, stop: threading.Event) -> Iterator[int]:
    """A local listening port whose accept loop (a daemon thread called `name`) hands every
    connection to `on_connect(conn)` until `stop`, which is set when the block exits."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            on_connect(conn)

    thread = threading.Thread(target=accept, daemon=True, name=name)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


@contextmanager
def hung_port() -> Iterator[int]:
    """A local port that accepts every connection and never sends a byte (a broker that hangs)."""
    held: list[socket.socket] = []
    try:
        with _listening(name="hung-broker", on_connect=held.append, stop=threading.Event()) as port:
            yield port
    finally:
        for conn in held:
            conn.close()


@contextmanager
def trickling_port(*, every: float = 0.3) -> Iterator[int]:
    """A local port whose server answers every connection's first bytes with the header of a huge
    Redis bulk string and then one byte of it every `every` s: a Redis that keeps answering, too
    slowly ever to finish. A client's socket timeout (per read) never fires; only a deadline of the
    caller's own ends the wait. The connections are closed when the block exits."""
    stop = threading.Event()

    def trickle(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(0.2)
            while not stop.is_set():
                try:
                    if conn.recv(65536):
                        break
                except TimeoutError:
                    continue
                except OSError:
                    return
            try:
                conn.sendall(b"$100000000\r\n")
                while not stop.wait(every):
                    conn.sendall(b"x")
            except OSError:
                return

    def on_connect(conn: socket.socket) -> None:
        threading.Thread(target=trickle, args=(conn,), daemon=True, name="trickling-redis").start()

    with _listening(name="trickling-redis-accept", on_connect=on_connect, stop=stop) as port:
        yield port


@contextmanager
def broker_url(url: str, *, result_backend: str | None = None) -> Iterator[None]:
    """Point the Celery app's broker (and optionally its result backend) at `url` for the block.

    `task_publish` opens its own connection from `app.conf.broker_url`, so no pool needs dropping. A
    result backend is built once per thread (`app.backend`): a changed one takes effect in threads
    started inside the block.
    """
    from django.conf import settings

    from f1site.celery import app

    before = (app.conf.broker_url, app.conf.result_backend, settings.CELERY_BROKER_URL)
    app.conf.broker_url = url
    settings.CELERY_BROKER_URL = url
    if result_backend is not None:
        app.conf.result_backend = result_backend
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.result_backend, settings.CELERY_BROKER_URL = before


def run_bounded(func, *, timeout: float):
    """Call `func` in a thread; return (value or None, exception or None, seconds taken). A call
    still running after `timeout` s fails the test instead of hanging the suite."""
    import time

    from django.db import connections

    box: dict = {}

    def target():
        started = time.monotonic()
        try:
            box["value"] = func()
        except BaseException as exc:  # handed back to the test
            box["error"] = exc
        finally:
            box["seconds"] = time.monotonic() - started
            connections.close_all()  # this thread's own database connections, if it opened any

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"still blocked after {timeout} s"
    return box.get("value"), box.get("error"), box["seconds"]


class SwitchableProxy:
    """A TCP proxy to a real server whose link can be cut (every open connection closed, new ones
    refused) and restored: a broker or Redis blip, with the real server on either side of it. Or
    held (`hold()`): what clients send waits in the proxy, their connections open, until `release()`
    — a client caught in the middle of a command, at a moment the test chooses (`holding` is set once
    a client's bytes wait)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # cut(refuse=True) re-binds
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self._up = threading.Event()
        self._up.set()
        self._flowing = threading.Event()
        self._flowing.set()
        self.holding = threading.Event()
        self._stop = threading.Event()
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True, name="switchable-proxy")
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._up.is_set():
                client.close()  # the link is cut: the connection is dropped at once
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if not self._up.is_set():  # cut while connecting upstream: this pair must not survive it
                    client.close()
                    upstream.close()
                    continue
                self._open += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst, src is client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        try:
            while data := src.recv(65536):
                if from_client and not self._flowing.is_set():
                    self.holding.set()
                    self._flowing.wait()
                    if self._stop.is_set() or not self._up.is_set():
                        break  # closed or cut while held: what was held never reaches the server
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)  # wakes the other pump blocked in recv()
            src.close()  # each socket is one pump's source: closed once, by that pump

    def cut(self, *, refuse: bool = False) -> None:
        """Close every connection through the proxy and drop new ones until `restore()`. With
        `refuse`, the listening socket closes too, so a connect is refused (ECONNREFUSED), as when
        the server or the proxy process is gone, instead of accepted and closed at once."""
        self._up.clear()
        if refuse:
            self._stop.set()
            self._thread.join(timeout=2)
            self.server.close()
        with self._lock:
            held, self._open = self._open, []
        for s in held:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        if self._stop.is_set() and self.server.fileno() == -1:  # cut(refuse=True): listen again
            self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.server.bind(("127.0.0.1", self.port))
            self.server.listen(64)
            self.server.settimeout(0.2)
            self._stop.clear()
            self._thread = threading.Thread(target=self._accept, daemon=True, name="switchable-proxy")
            self._thread.start()
        self._up.set()

    def hold(self) -> None:
        """Keep what clients send from now on in the proxy until `release()`."""
        self.holding.clear()
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._stop.set()
        self._flowing.set()
        self.cut()
        self._thread.join(timeout=2)
        self.server.close()


@contextmanager
def switchable_proxy(host: str, port: int) -> Iterator[SwitchableProxy]:
    proxy = SwitchableProxy(host, port)
    try:
        yield proxy
    finally:
        proxy.close()
