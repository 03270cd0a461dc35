"""Content-addressed file store for raw mail and attachments.

A file is written to a temporary name, fsynced, renamed to its SHA-256 and
its directory fsynced: once put() returns, the bytes survive a crash or a
power cut. Identical content is stored once.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from mailgate.errors import StorageUnavailable


class FileStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._root = str(root)              # plain strings: put() is on the ingest hot path
        self._tmp = os.path.join(self._root, "tmp")
        self._ready_dirs: set[str] = set()

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes, sha256: str | None = None) -> str:
        """Store `data` durably and return its SHA-256 (hex)."""
        sha256 = sha256 or hashlib.sha256(data).hexdigest()
        directory = os.path.join(self._root, sha256[:2])
        final = os.path.join(directory, sha256)
        try:
            if os.path.exists(final):
                return sha256
            self._ensure_dir(directory)
            # Unique per process and thread; cheaper than mkstemp's random names.
            tmp_name = os.path.join(self._tmp, f"{sha256}.{os.getpid()}.{threading.get_ident()}")
            fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o640)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.replace(tmp_name, final)
            except BaseException:
                _unlink_quietly(tmp_name)
                raise
            _fsync_dir(directory)
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

    def _ensure_dir(self, directory: str) -> None:
        if directory in self._ready_dirs:
            return
        for path in (self._tmp, directory):
            if not os.path.isdir(path):
                os.makedirs(path, exist_ok=True)
                _fsync_dir(self._root)      # the new directory entry must be durable too
        self._ready_dirs.add(directory)


def _fsync_dir(directory: str) -> None:
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
