"""Checksummed, atomic downloads from a list of mirrors, and the SHA-256 of a file.

A file is only ever written by an atomic rename after its SHA-256 matched the expected one,
so an interrupted, truncated or corrupt download leaves nothing behind, and a file already
in place with a wrong checksum is reported and never overwritten. Mirrors are tried in
order; when all fail, the error (one line) lists what each one answered and where to put the
file by hand. The MNIST files, their mirrors and their checksums are in :mod:`hvae.data.mnist`.

Two limits bound a transfer in time: ``timeout``, the most seconds one socket operation may
wait (connecting, or one read), and ``deadline``, the most seconds the whole transfer of one
file from one mirror may take, so that a server trickling one byte per second cannot hold a
download forever. A process killed in the middle of a download (SIGKILL, power loss) leaves
its temporary file (the naming of ``hvae._io.atomic_output``, which records the writer's
host and pid); :func:`ensure_file` removes such leftovers of the file it is about to fetch
before it starts: at once when their writer on this host is dead, otherwise once they have not
been written to for :data:`STALE_PART_AGE` seconds (a younger one may belong to a download
still running on another host).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from tqdm.auto import tqdm

from hvae._io import atomic_output, remove_stale_parts

__all__ = [
    "DEFAULT_DEADLINE", "STALE_PART_AGE", "DownloadError", "download_file", "ensure_file",
    "sha256_file",
]

_CHUNK = 1 << 16

#: Default of ``deadline``: the most seconds the transfer of one file from one mirror may take.
DEFAULT_DEADLINE = 600.0

#: A leftover temporary file of a download is removed once it has not been modified for this
#: many seconds (and at least twice the socket ``timeout``): a live download writes more often.
STALE_PART_AGE = 120.0


class DownloadError(RuntimeError):
    """A file could not be obtained from any mirror (or a cached copy is wrong)."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _socket_of(resp: object) -> object | None:
    """The socket under an ``http.client.HTTPResponse`` (None for ``file://`` responses)."""
    raw = getattr(getattr(resp, "fp", None), "raw", None)
    sock = getattr(raw, "_sock", None)
    return sock if hasattr(sock, "settimeout") else None


def _check_limits(timeout: float, deadline: float) -> None:
    for name, value in (("timeout", timeout), ("deadline", deadline)):
        if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                and 0 < value < float("inf")):
            raise ValueError(f"{name}: must be a positive, finite number of seconds, got {value!r}")


def download_file(
    url: str,
    dest: Path,
    sha256: str,
    *,
    timeout: float = 60.0,
    deadline: float = DEFAULT_DEADLINE,
    max_bytes: int = 64 * 2**20,
    progress: bool = True,
) -> None:
    """Fetch ``url`` into ``dest`` if and only if its SHA-256 equals ``sha256``.

    The bytes go to a temporary file in ``dest``'s directory, hashed while streaming, and the
    temporary file is renamed onto ``dest`` only after the checksum matched. Any failure
    (network, size limit, checksum, deadline) deletes the temporary file and raises.

    Args:
        timeout: the most seconds one socket operation (connect, one read) may wait.
        deadline: the most seconds the whole transfer may take, counted from the request;
            a server that keeps sending a trickle of bytes is cut off when it has passed
            (:class:`DownloadError`). It is enforced while the body is read (each read waits
            at most for the time left); connecting and each read of the response headers
            are bounded by ``timeout`` and by ``deadline`` separately, http.client capping
            the size of the headers.
    """
    _check_limits(timeout, deadline)
    start = time.monotonic()
    end = start + deadline

    def too_late(received: int) -> DownloadError:
        return DownloadError(
            f"{url}: transfer not finished within the deadline of {deadline:g} s "
            f"({received} bytes received in {time.monotonic() - start:.1f} s)"
        )

    request = urllib.request.Request(url, headers={"User-Agent": "hvae-data/0.1 (urllib)"})
    digest = hashlib.sha256()
    received = [0]  # bytes so far, shared with _copy_body for the deadline's message
    try:
        with atomic_output(dest) as out, urllib.request.urlopen(
            request, timeout=min(timeout, deadline)
        ) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > max_bytes:
                raise DownloadError(
                    f"{url}: server announces {total} bytes > max_bytes={max_bytes}"
                )
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                      disable=not progress, leave=False) as bar:
                _copy_body(resp, out, digest, bar, received, end=end, timeout=timeout,
                           max_bytes=max_bytes, too_late=too_late, url=url)
            if total is not None and received[0] != total:
                raise DownloadError(f"{url}: got {received[0]} bytes, server announced {total}")
            got = digest.hexdigest()
            if got != sha256:
                raise DownloadError(f"{url}: SHA-256 mismatch (expected {sha256}, got {got})")
    except TimeoutError as exc:  # socket.timeout is TimeoutError since Python 3.10
        if time.monotonic() >= end:
            raise too_late(received[0]) from exc
        raise


def _copy_body(resp, out, digest, bar, received: list[int], *, end: float, timeout: float,
               max_bytes: int, too_late, url: str) -> None:
    """Stream the response body into ``out`` and ``digest`` until it ends or ``end`` passes."""
    sock = _socket_of(resp)
    # read1: return what has arrived (read() would wait for a whole chunk, however slowly it
    # trickles in, before the deadline could be checked again).
    read = getattr(resp, "read1", resp.read)
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise too_late(received[0])
        if sock is not None:
            sock.settimeout(min(timeout, left))
        chunk = read(_CHUNK)
        if not chunk:
            return
        received[0] += len(chunk)
        if received[0] > max_bytes:
            raise DownloadError(f"{url}: more than max_bytes={max_bytes} bytes")
        digest.update(chunk)
        out.write(chunk)
        bar.update(len(chunk))


def ensure_file(
    dest: Path,
    sha256: str,
    mirrors: Iterable[str],
    *,
    timeout: float = 60.0,
    deadline: float = DEFAULT_DEADLINE,
    max_bytes: int = 64 * 2**20,
    progress: bool = True,
    note: str | None = None,
) -> None:
    """Make sure ``dest`` exists with checksum ``sha256``, trying ``mirrors`` in order.

    Each mirror is a base URL to which ``dest``'s file name is appended. A file already at
    ``dest`` is kept if its checksum matches and is otherwise left untouched, with a
    :class:`DownloadError`. When no mirror serves the right bytes, the :class:`DownloadError`
    lists each mirror's error and says where to put the file by hand, all on one line;
    ``note``, when given, ends that message (e.g. what is used in the meantime).

    ``timeout`` and ``deadline`` are those of :func:`download_file`, for each mirror tried.
    Before downloading, leftover temporary files of ``dest`` from a killed download are
    removed (those not modified for :data:`STALE_PART_AGE` seconds, or twice ``timeout`` if
    that is longer).
    """
    _check_limits(timeout, deadline)
    remove_stale_parts(dest.parent, max(STALE_PART_AGE, 2.0 * timeout), target=dest.name)
    if dest.exists():
        got = sha256_file(dest)
        if got != sha256:
            raise DownloadError(
                f"{dest} exists but its SHA-256 is {got}, expected {sha256}. It was left "
                "untouched: delete it (or replace it with a correct copy) and try again."
            )
        return
    errors: list[str] = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + dest.name
        try:
            download_file(url, dest, sha256, timeout=timeout, deadline=deadline,
                          max_bytes=max_bytes, progress=progress)
            return
        # URLError/HTTPError/timeouts are OSErrors; ValueError: malformed URL.
        except (OSError, http.client.HTTPException, DownloadError, ValueError) as exc:
            text = " ".join(str(exc).split()) or type(exc).__name__
            errors.append(text if text.startswith(url) else f"{url}: {text}")
    raise DownloadError(
        f"could not download {dest.name} from any mirror ("
        + "; ".join(errors)
        + f"). Nothing was written. Download {dest.name} yourself (e.g. from one of the URLs "
        f"listed) and place it at {dest} (its SHA-256 must be {sha256})"
        + (f"; {note}" if note else ".")
    )
