"""A site without a cluster renders exactly as before clusters existed: byte for byte."""

from __future__ import annotations

import json

import pytest
from single_server import DIGESTS, SITES, tree_digests


@pytest.mark.parametrize("name", sorted(SITES))
def test_single_server_tree_is_byte_identical(name, tmp_path):
    assert tree_digests(name, tmp_path) == json.loads(DIGESTS.read_text(encoding="utf-8"))[name]
