"""The content-addressed store: durable puts, one copy per content."""

from __future__ import annotations

import hashlib

import pytest

from mailgate.errors import StorageUnavailable
from storage.rawstore import FileStore, batch_sync_available


def test_put_returns_the_sha256_and_stores_the_bytes_once(tmp_path):
    store = FileStore(tmp_path / "raw")
    data = b"From: a@example.org\r\n\r\nhello\r\n"
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.get(sha) == data and store.path(sha) == tmp_path / "raw" / sha[:2] / sha
    assert store.put(data) == sha
    assert [p.name for p in (tmp_path / "raw").rglob("*") if p.is_file()] == [sha]   # no tmp left


def test_unwritable_store_is_storage_unavailable(tmp_path):
    (tmp_path / "raw").write_text("a file where a directory should be")
    with pytest.raises(StorageUnavailable):
        FileStore(tmp_path / "raw").put(b"x")


@pytest.mark.skipif(not batch_sync_available(), reason="syncfs() exists on Linux only")
def test_batch_mode_writes_without_flushing_until_sync(tmp_path):
    store = FileStore(tmp_path / "raw", batch_sync=True)
    shas = [store.put(b"mail %d" % n) for n in range(3)]
    store.sync()
    assert [store.get(sha) for sha in shas] == [b"mail 0", b"mail 1", b"mail 2"]
    assert not list((tmp_path / "raw" / "tmp").iterdir())


def test_sync_before_anything_was_stored_is_harmless(tmp_path):
    FileStore(tmp_path / "not-yet", batch_sync=True).sync()
