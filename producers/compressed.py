"""Opening an input: plain or gzipped, with a cap on how far a gzip stream may inflate.

A 100 KB file can inflate to gigabytes (a decompression bomb). Reading stays streamed, so memory
does not grow with it, but time would: past the cap the replay stops with an error that names the
cap and how to raise it. Other compressions are recognised and refused with a hint, instead of
being read as text and reported as thousands of bad rows.
"""

from __future__ import annotations

import gzip
import io
import sys
import zlib
from typing import IO

from producers.errors import InputError

MIB = 1 << 20
# Magic numbers of the compressions the replay does not read (bzip2's is "BZh" + block size).
_OTHER_MAGIC = ((b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"),
                *((b"BZh" + bytes([d]), "bzip2") for d in b"123456789"))


class DecompressionCapError(InputError):
    """A compressed input inflates beyond the cap: likely a bomb; raise the cap if it is not."""


def open_binary(path: str, max_decompressed: int | None = None) -> IO[bytes]:
    """The file (or stdin for ``-``), transparently gunzipped, inflating to at most the cap."""
    try:
        raw: IO[bytes] = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"cannot open {path}: {exc.strerror}") from exc
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
    head = buffered.peek(6)[:6]
    if head[:2] == b"\x1f\x8b":
        gunzip = gzip.GzipFile(fileobj=buffered, mode="rb")
        return io.BufferedReader(_Inflated(gunzip, buffered, path, max_decompressed))
    for magic, name in _OTHER_MAGIC:
        if head.startswith(magic):
            buffered.close()
            raise InputError(f"{path} is {name}-compressed, which the replay does not read; "
                             "decompress it first (or recompress it with gzip)")
    return buffered


class _Inflated(io.RawIOBase):
    """A gzip stream's inflated bytes, counted; corrupt or truncated data becomes an InputError."""

    def __init__(self, gunzip: gzip.GzipFile, source: IO[bytes], path: str,
                 cap: int | None) -> None:
        self._gunzip, self._source, self._path, self._cap = gunzip, source, path, cap
        self.inflated = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            n = self._gunzip.readinto(buffer)
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(f"{self._path}: the gzip data is truncated or corrupt after "
                             f"{self.inflated} inflated bytes ({exc})") from exc
        self.inflated += n
        if self._cap is not None and self.inflated > self._cap:
            raise DecompressionCapError(
                f"{self._path} decompresses to more than {self._cap / MIB:g} MiB, the cap "
                "(--max-decompressed-mib, SENTISTREAM_REPLAY_MAX_DECOMPRESSED_MIB): stopped "
                "there as a likely decompression bomb; raise the cap if the file is genuine")
        return n

    def close(self) -> None:
        if not self.closed:
            self._gunzip.close()
            self._source.close()  # GzipFile does not close a file object it was handed
        super().close()
