"""Helpers shared by the tests of hvae.data: hand-built IDX bytes, small fake MNIST files (and
their checksums, which load_mnist needs since it verifies every file), a local HTTP server and
a slow one (bound to 127.0.0.1, port 0), so that no test touches the internet."""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import os
import socket
import struct
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

REPO_DATA = Path(__file__).resolve().parent.parent / "data"
MNIST_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def idx_bytes(code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    """IDX bytes built by hand from the format description (not with hvae.data)."""
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # silence the per-request log lines
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` over HTTP on 127.0.0.1 (free port); yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    with _running(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as url:
        yield url


@contextlib.contextmanager
def _running(server: http.server.ThreadingHTTPServer, before_shutdown=None):
    """Run ``server`` in a thread; yield its base URL; stop it (``before_shutdown`` first)."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        if before_shutdown is not None:
            before_shutdown()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port_url() -> str:
    """A loopback URL on which (almost certainly) nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def fake_mnist(directory: Path, n_train: int = 100, n_test: int = 20) -> dict[str, bytes]:
    """Write four small MNIST-format files; image i has pixel 0 == i, pixel 1 == label.

    Returns file name -> the gzipped bytes written.
    """
    rng = np.random.default_rng(123)
    files = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        rng.shuffle(labels)
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = np.arange(n)
        images[:, 0, 1] = labels
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(
            idx_bytes(0x08, (n, 28, 28), images.tobytes())
        )
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(
            idx_bytes(0x08, (n,), labels.tobytes())
        )
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_bytes(content)
    return files


def sums_of(files: Mapping[str, bytes]) -> dict[str, str]:
    """File name -> SHA-256 of the given contents (e.g. what :func:`fake_mnist` wrote)."""
    return {name: sha256(content) for name, content in files.items()}


@contextlib.contextmanager
def trickle_server(n_bytes: int = 1000, interval: float = 1.0, first_after: float = 0.0):
    """Serve every GET with ``Content-Length: n_bytes``, then one byte per ``interval`` seconds
    (after ``first_after`` seconds of silence); yield the base URL.

    The handler stops writing as soon as the client hangs up or the server is shut down, so
    leaving the ``with`` block never waits for the whole (slow) body.
    """
    stop = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(n_bytes))
            self.end_headers()
            self.wfile.flush()
            if stop.wait(first_after):
                return
            try:
                for _ in range(n_bytes):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    if stop.wait(interval):
                        return
            except OSError:  # the client gave up: that is the point
                pass
            self.close_connection = True

        def log_message(self, format, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with _running(server, before_shutdown=stop.set) as url:
        yield url


def backdate(path: Path, seconds: float) -> None:
    """Set ``path``'s access and modification times ``seconds`` into the past."""
    t = time.time() - seconds
    os.utime(path, (t, t))


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []
