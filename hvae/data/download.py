"""Checksummed, atomic downloads from a list of mirrors, and the SHA-256 of a file.

A file is only ever written by an atomic rename after its SHA-256 matched the expected one,
so an interrupted, truncated or corrupt download leaves nothing behind, and a file already
in place with a wrong checksum is reported and never overwritten. Mirrors are tried in
order; when all fail, the error lists what each one answered and where to put the file by
hand. The MNIST files, their mirrors and their checksums are in :mod:`hvae.data.mnist`.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from tqdm.auto import tqdm

from hvae._io import atomic_output

__all__ = ["DownloadError", "download_file", "ensure_file", "sha256_file"]

_CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A file could not be obtained from any mirror (or a cached copy is wrong)."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(
    url: str,
    dest: Path,
    sha256: str,
    *,
    timeout: float = 60.0,
    max_bytes: int = 64 * 2**20,
    progress: bool = True,
) -> None:
    """Fetch ``url`` into ``dest`` if and only if its SHA-256 equals ``sha256``.

    The bytes go to a temporary file in ``dest``'s directory, hashed while streaming, and the
    temporary file is renamed onto ``dest`` only after the checksum matched. Any failure
    (network, size limit, checksum) deletes the temporary file and raises.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "hvae-data/0.1 (urllib)"})
    digest = hashlib.sha256()
    with atomic_output(dest) as out, urllib.request.urlopen(request, timeout=timeout) as resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > max_bytes:
            raise DownloadError(f"{url}: server announces {total} bytes > max_bytes={max_bytes}")
        received = 0
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=dest.name,
            disable=not progress,
            leave=False,
        ) as bar:
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                received += len(chunk)
                if received > max_bytes:
                    raise DownloadError(f"{url}: more than max_bytes={max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
        if total is not None and received != total:
            raise DownloadError(f"{url}: got {received} bytes, server announced {total}")
        got = digest.hexdigest()
        if got != sha256:
            raise DownloadError(f"{url}: SHA-256 mismatch (expected {sha256}, got {got})")


def ensure_file(
    dest: Path,
    sha256: str,
    mirrors: Iterable[str],
    *,
    timeout: float = 60.0,
    max_bytes: int = 64 * 2**20,
    progress: bool = True,
    note: str | None = None,
) -> None:
    """Make sure ``dest`` exists with checksum ``sha256``, trying ``mirrors`` in order.

    Each mirror is a base URL to which ``dest``'s file name is appended. A file already at
    ``dest`` is kept if its checksum matches and is otherwise left untouched, with a
    :class:`DownloadError`. When no mirror serves the right bytes, the :class:`DownloadError`
    lists each mirror's error and says where to put the file by hand; ``note``, when given,
    ends that message (e.g. what is used in the meantime).
    """
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
            download_file(url, dest, sha256, timeout=timeout, max_bytes=max_bytes,
                          progress=progress)
            return
        # URLError/HTTPError/timeouts are OSErrors; ValueError: malformed URL.
        except (OSError, http.client.HTTPException, DownloadError, ValueError) as exc:
            errors.append(f"  {url}: {exc}")
    raise DownloadError(
        f"could not download {dest.name} from any mirror:\n"
        + "\n".join(errors)
        + f"\nNothing was written. Download {dest.name} yourself (e.g. from one of the URLs "
        f"above) and place it at {dest} (its SHA-256 must be {sha256})"
        + (f"; {note}" if note else ".")
    )
