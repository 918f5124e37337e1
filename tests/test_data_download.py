"""Tests for the checksummed downloads of hvae.data (hvae.data.download, download_mnist).

Nothing here touches the internet: downloads are served by an http.server bound to
127.0.0.1 (port 0) or read from file:// URLs, from files the tests write themselves.
"""

from __future__ import annotations

import http.server
import re
import threading

import numpy as np
import pytest
from data_helpers import MNIST_NAMES, closed_port_url, leftovers, serve, sha256

from hvae import data as D


def test_download_good(tmp_path):
    content = np.random.default_rng(1).bytes(200_000)
    srv = tmp_path / "srv"
    srv.mkdir()
    (srv / "train-images-idx3-ubyte.gz").write_bytes(content)
    root = tmp_path / "root"
    with serve(srv) as url:
        out = D.download_mnist(
            root,
            mirrors=[url],
            checksums={"train-images-idx3-ubyte.gz": sha256(content)},
            progress=True,  # the tqdm bar (on stderr) must not get in the way
        )
    assert out == root / "mnist"
    assert (out / "train-images-idx3-ubyte.gz").read_bytes() == content
    assert leftovers(out) == ["train-images-idx3-ubyte.gz"]  # no temporary files left


def test_download_checksum_mismatch_leaves_nothing(tmp_path):
    srv = tmp_path / "srv"
    srv.mkdir()
    (srv / "f.gz").write_bytes(b"corrupted content")
    root = tmp_path / "root"
    with serve(srv) as url, pytest.raises(D.DownloadError) as err:
        D.download_mnist(
            root, mirrors=[url], checksums={"f.gz": sha256(b"the real content")}, progress=False
        )
    msg = str(err.value)
    assert "SHA-256 mismatch" in msg
    assert str(root / "mnist" / "f.gz") in msg  # says where to put the file by hand
    assert leftovers(root / "mnist") == []


def test_download_first_mirror_down_second_works(tmp_path):
    content = b"mnist bytes " * 1000
    good = tmp_path / "good"
    good.mkdir()
    (good / "f.gz").write_bytes(content)
    empty = tmp_path / "empty"
    empty.mkdir()
    root = tmp_path / "root"
    with serve(good) as good_url, serve(empty) as empty_url:
        D.download_mnist(
            root,
            mirrors=[closed_port_url(), empty_url, good_url],  # refused, then 404, then OK
            checksums={"f.gz": sha256(content)},
            timeout=5,
            progress=False,
        )
    assert (root / "mnist" / "f.gz").read_bytes() == content
    assert leftovers(root / "mnist") == ["f.gz"]


def test_download_from_file_url_and_skip_existing(tmp_path):
    content = b"abc" * 100
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.gz").write_bytes(content)
    root = tmp_path / "root"
    sums = {"f.gz": sha256(content)}
    D.download_mnist(root, mirrors=[src.as_uri()], checksums=sums, progress=False)
    assert (root / "mnist" / "f.gz").read_bytes() == content
    # Already present with the right checksum: no mirror is needed any more.
    (src / "f.gz").unlink()
    D.download_mnist(root, mirrors=[closed_port_url()], checksums=sums, progress=False)
    assert (root / "mnist" / "f.gz").read_bytes() == content


class _CutHandler(http.server.BaseHTTPRequestHandler):
    """Announces 1000 bytes, sends 400 and hangs up: an interrupted download."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(bytes(400))
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format, *args):
        pass


def test_download_interrupted_leaves_nothing(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CutHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        with pytest.raises(D.DownloadError, match="could not download f.gz"):
            D.download_mnist(
                tmp_path,
                mirrors=[url],
                checksums={"f.gz": sha256(bytes(1000))},
                timeout=5,
                progress=False,
            )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert leftovers(tmp_path / "mnist") == []


def test_download_all_mirrors_fail_lists_them(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = closed_port_url()
    with serve(empty) as url, pytest.raises(D.DownloadError) as err:
        D.download_mnist(
            tmp_path / "root", mirrors=[bad, url], checksums={"f.gz": "0" * 64}, progress=False
        )
    msg = str(err.value)
    assert bad + "f.gz" in msg and url + "f.gz" in msg and "404" in msg
    assert leftovers(tmp_path / "root" / "mnist") == []


def test_download_respects_max_bytes(tmp_path):
    content = bytes(10_000)
    srv = tmp_path / "srv"
    srv.mkdir()
    (srv / "f.gz").write_bytes(content)
    with serve(srv) as url, pytest.raises(D.DownloadError, match="max_bytes"):
        D.download_mnist(
            tmp_path / "root",
            mirrors=[url],
            checksums={"f.gz": sha256(content)},
            max_bytes=1000,
            progress=False,
        )
    assert leftovers(tmp_path / "root" / "mnist") == []


def test_download_never_overwrites_a_wrong_cached_file(tmp_path):
    cached = tmp_path / "root" / "mnist" / "f.gz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"user's file")
    with pytest.raises(D.DownloadError, match="left untouched"):
        D.download_mnist(
            tmp_path / "root", mirrors=["file:///nonexistent/"], checksums={"f.gz": "a" * 64}
        )
    assert cached.read_bytes() == b"user's file"


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"mirrors": []}, "mirrors"),
        ({"checksums": {"f.gz": "xyz"}}, "checksums"),
        ({"checksums": {"../f.gz": "a" * 64}}, "checksums"),
        ({"checksums": {}}, "checksums"),
    ],
)
def test_download_argument_errors(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        D.download_mnist(tmp_path, **kwargs)


def test_default_checksums_cover_the_four_standard_files():
    assert set(D.MNIST_SHA256) == set(MNIST_NAMES)
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in D.MNIST_SHA256.values())
    assert all(m.startswith("https://") for m in D.MNIST_MIRRORS) and len(D.MNIST_MIRRORS) >= 2


def test_ensure_file_note_ends_the_message(tmp_path):
    with pytest.raises(D.DownloadError, match=r"must be 0{64}\); use the copy on the shelf\.$"):
        D.ensure_file(tmp_path / "f.gz", "0" * 64, [closed_port_url()], timeout=5,
                      progress=False, note="use the copy on the shelf.")
    with pytest.raises(D.DownloadError, match=r"must be 0{64}\)\.$"):
        D.ensure_file(tmp_path / "f.gz", "0" * 64, [closed_port_url()], timeout=5,
                      progress=False)
    assert leftovers(tmp_path) == []


def test_sha256_file_and_checksum_message(tmp_path):
    path = tmp_path / "x.bin"
    content = np.random.default_rng(2).bytes(200_000)  # several read chunks
    path.write_bytes(content)
    assert D.sha256_file(path) == sha256(content)
    with pytest.raises(ValueError, match=r"^checksums\['f.gz'\]: must be a 64-character "
                       r"hexadecimal SHA-256, got 'xyz'$"):
        D.download_mnist(tmp_path, checksums={"f.gz": "xyz"})
