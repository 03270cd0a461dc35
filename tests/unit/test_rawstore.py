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


@pytest.mark.parametrize("batch_sync", [False, True])
def test_a_copy_left_empty_by_a_power_cut_is_written_again(tmp_path, batch_sync):
    # A file renamed but not yet flushed can come back empty after a power
    # cut; the sender, never acknowledged, delivers again: that copy must not
    # be taken for the stored one.
    store = FileStore(tmp_path / "raw", batch_sync=batch_sync)
    data = b"From: a@example.org\r\n\r\nhello\r\n"
    sha = store.put(data)
    store.path(sha).write_bytes(b"")
    assert store.put(data) == sha
    store.sync()
    assert store.get(sha) == data


@pytest.mark.skipif(not batch_sync_available(), reason="syncfs() with error reporting needs Linux 5.8+")
def test_batch_mode_stores_everything_once_synced(tmp_path):
    store = FileStore(tmp_path / "raw", batch_sync=True)
    shas = [store.put(b"mail %d" % n) for n in range(3)]
    store.sync()
    assert [store.get(sha) for sha in shas] == [b"mail 0", b"mail 1", b"mail 2"]
    assert not list((tmp_path / "raw" / "tmp").iterdir())
