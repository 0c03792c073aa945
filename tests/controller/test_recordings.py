"""The recordings' pure rules: the URLs' signature and the retention (the
endpoint's refusals, expiry included, in test_recordings_http)."""

from __future__ import annotations

from bizpbx.controller.recordings import RecordingFile, is_signed, signature, to_delete, url_path

SECRET = "a-recordings-url-secret-of-32-chars!"
UUID = "1b1e4d52-4d8c-4c3e-9d0a-2f0e6c1a7b11"


def test_a_signature_covers_the_path_and_the_expiry_under_the_sites_secret():
    path = url_path(UUID)
    good = signature(SECRET, path, 2000)
    assert is_signed(SECRET, path, 2000, good)
    assert not is_signed(SECRET, url_path(UUID.replace("1", "2")), 2000, good), "another recording"
    assert not is_signed(SECRET, path, 2001, good), "a later expiry is not signed"
    assert not is_signed("another-secret-of-thirty-two-chars!!", path, 2000, good)
    assert not is_signed(SECRET, path, 2000, good.upper()) and not is_signed(SECRET, path, 2000, "")


def test_the_retention_deletes_what_is_too_old_then_the_oldest_until_it_fits():
    day = 86400
    files = [RecordingFile(f"/r/{n}.wav", n * day, 100) for n in range(10)]  # day 0 .. day 9
    now = 10 * day
    assert [f.path for f in to_delete(files, now, retention_days=5, max_bytes=10_000)] == [f"/r/{n}.wav" for n in range(5)]
    # Under the age limit, 300 bytes fit: the oldest two of the five young ones go too.
    assert [f.path for f in to_delete(files, now, retention_days=5, max_bytes=300)] == [f"/r/{n}.wav" for n in range(7)]
    assert to_delete(files, now, retention_days=365, max_bytes=1000) == []
