"""Which of the switch's channels are calls left parked in the socket application (stranded_calls)."""

from __future__ import annotations

import json

import pytest

from bizpbx.controller.stranded_calls import stranded_calls


def test_only_calls_in_socket_since_before_the_start_and_not_handled_are_stranded():
    rows = [
        {"uuid": "a", "application": "socket", "created_epoch": "100", "dest": "78005553535", "context": "public"},
        {"uuid": "b", "application": "socket", "created_epoch": "100", "dest": "101", "context": "phones-12"},
        {"uuid": "c", "application": "bridge", "created_epoch": "100", "dest": "102", "context": "phones-12"},
        {"uuid": "d", "application": "socket", "created_epoch": "300", "dest": "103", "context": "phones-12"},
    ]
    found = stranded_calls(json.dumps({"row_count": 4, "rows": rows}), started_at=200, handled={"b"})
    assert [(c.uuid, c.transfer_command()) for c in found] == [("a", "uuid_transfer a 78005553535 XML public")]
    assert stranded_calls("", 200, set()) == [] and stranded_calls('{"row_count": 0}', 200, set()) == []
    with pytest.raises(ValueError, match="row 0: KeyError 'dest'"):
        stranded_calls(json.dumps({"rows": [{"uuid": "a", "application": "socket", "created_epoch": "1"}]}), 200, set())
