"""Content-addressed file store for raw mail and attachments.

A file is written to a temporary name, fsynced, renamed to its SHA-256 and
its directory fsynced: once put() returns, the bytes survive a crash or a
power cut. Identical content is stored once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from mailgate.errors import StorageUnavailable


class FileStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._tmp = self.root / "tmp"

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes, sha256: str | None = None) -> str:
        """Store `data` durably and return its SHA-256 (hex)."""
        sha256 = sha256 or hashlib.sha256(data).hexdigest()
        final = self.path(sha256)
        try:
            if final.exists():
                return sha256
            self._ensure_dir(final.parent)
            fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp_name, final)
            except BaseException:
                _unlink_quietly(tmp_name)
                raise
            _fsync_dir(final.parent)
        except OSError as exc:
            raise StorageUnavailable(f"cannot store file in {self.root}: {exc.strerror or exc}") from exc
        return sha256

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def delete(self, sha256: str) -> bool:
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            return False
        return True

    def _ensure_dir(self, directory: Path) -> None:
        if not self._tmp.is_dir():
            self._tmp.mkdir(parents=True, exist_ok=True)
            _fsync_dir(self.root)
        if not directory.is_dir():
            directory.mkdir(exist_ok=True)
            _fsync_dir(self.root)     # the new directory entry must be durable too


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(name: str) -> None:
    try:
        os.unlink(name)
    except OSError:
        pass
