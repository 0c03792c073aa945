"""The recordings' pure rules: signed, expiring URLs and the retention."""

from __future__ import annotations

from bizpbx.controller.recordings import RecordingFile, authorized, signature, to_delete, url_path

SECRET = "a-recordings-url-secret-of-32-chars!"
UUID = "1b1e4d52-4d8c-4c3e-9d0a-2f0e6c1a7b11"


def test_a_signed_path_is_authorized_until_it_expires_and_for_no_other_path():
    path = url_path(UUID)
    good = signature(SECRET, path, 2000)
    assert authorized(SECRET, path, "2000", good, now=1999)
    assert not authorized(SECRET, path, "2000", good, now=2001), "expired"
    assert not authorized(SECRET, url_path(UUID.replace("1", "2")), "2000", good, now=1999), "another recording"
    assert not authorized(SECRET, path, "2001", good, now=1999), "a later expiry is not signed"
    assert not authorized("another-secret-of-thirty-two-chars!!", path, "2000", good, now=1999)
    assert not authorized(SECRET, path, "-1", good, now=0) and not authorized(SECRET, path, "", good, now=0)


def test_the_retention_deletes_what_is_too_old_then_the_oldest_until_it_fits():
    day = 86400
    files = [RecordingFile(f"/r/{n}.wav", n * day, 100) for n in range(10)]  # day 0 .. day 9
    now = 10 * day
    assert [f.path for f in to_delete(files, now, retention_days=5, max_bytes=10_000)] == [f"/r/{n}.wav" for n in range(5)]
    # Under the age limit, 300 bytes fit: the oldest two of the five young ones go too.
    assert [f.path for f in to_delete(files, now, retention_days=5, max_bytes=300)] == [f"/r/{n}.wav" for n in range(7)]
    assert to_delete(files, now, retention_days=365, max_bytes=1000) == []
