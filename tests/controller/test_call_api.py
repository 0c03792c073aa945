"""The click-to-call API over real HTTP on loopback: authentication, the
request's fields named when wrong, the plan and the toll-fraud guard refusing
before anything rings, and the token never in a log line. The switch is not
running here: a request that passes every check reaches the event socket and
is answered 503 (the live test is test_click_to_call_live.py)."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest
from http_exchange import exchange

from bizpbx.controller.call_api import CallApiEndpoint
from bizpbx.controller.call_requests import Transfer, consult_target, transfer
from bizpbx.controller.executor import CallHandler
from bizpbx.controller.http_server import HttpError
from bizpbx.controller.metrics import Metrics
from bizpbx.esl.aio import InboundClient
from bizpbx.rating import Rater

TOKEN = "crm-token-0123456789-abcdefghijklmnop"
OTHER = "other-token-0123456789-abcdefghijklm"


@pytest.fixture
def api_site(site):
    def with_clients(data):
        data["controller"]["api"] = {"clients": {"crm": {"token": TOKEN}, "shop": {"token": OTHER, "organizations": ["34"]}}}

    return site(with_clients)


def request(api_site, method: str, path: str, body=None, token: str | None = TOKEN, spent: Decimal = Decimal(0), in_progress: int = 0):
    """One HTTP request to the API on a free loopback port; its status and JSON answer."""
    handler = CallHandler(api_site, Rater(api_site), lambda org, since, until: spent, Metrics(), lambda event: None)
    for number in range(in_progress):  # outbound calls of organization 12 already up
        handler.outbound_calls.claim("12", f"call-{number}", lambda calls: None)
    inbound = InboundClient("127.0.0.1", 1, "not-running-switch")  # never connected: nothing listens there

    payload = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    head = f"{method} {path} HTTP/1.1\r\nHost: pbx\r\nContent-Length: {len(payload)}\r\n"
    if token is not None:
        head += f"Authorization: Bearer {token}\r\n"
    status, headers, answer = exchange([CallApiEndpoint(api_site, handler, inbound, stored=lambda uuid: False)], head.encode() + b"\r\n" + payload)
    assert headers["content-type"] == "application/json"
    return status, json.loads(answer)


CALL = {"organization": "12", "extension": "101", "number": "+79161234567", "reference": "deal-42"}


def test_no_token_a_wrong_token_and_another_clients_organization_are_refused(api_site, caplog):
    caplog.set_level(logging.DEBUG)
    assert request(api_site, "POST", "/v1/calls", CALL, token=None) == (401, {"error": "missing credentials: send Authorization: Bearer <token>"})
    status, answer = request(api_site, "POST", "/v1/calls", CALL, token="x" * 40)
    assert status == 401 and "not one of this site's API clients" in answer["error"]
    status, answer = request(api_site, "POST", "/v1/calls", CALL, token=OTHER)
    assert status == 403 and answer["error"] == "client shop may not act for organization 12"
    assert TOKEN not in caplog.text and OTHER not in caplog.text


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"extension": "999"}, 400, "extension: organization 12 has no employee 999"),
        ({"number": "garbage"}, 400, "number: 'garbage' is not a phone number"),
        ({"number": None}, 400, "number: required, a non-empty string"),
        ({"reference": "a b"}, 400, "reference: up to 200 letters"),
        ({"colour": "red"}, 400, "colour: unknown field"),
        ({"organization": "99"}, 404, "organization '99' is not in this site"),
        ({"organization": "7", "extension": "300"}, 409, "organization 7 has no telephony plan: internal calls only"),
    ],
)
def test_bad_requests_name_the_field(api_site, change, status, message):
    got_status, answer = request(api_site, "POST", "/v1/calls", {**CALL, **change})
    assert got_status == status and message in answer["error"], answer


def test_a_body_that_is_not_json_is_named(api_site):
    status, answer = request(api_site, "POST", "/v1/calls", b"{not json")
    assert status == 400 and answer["error"].startswith("the body is not JSON")


def test_the_toll_fraud_guard_refuses_before_anything_rings(api_site):
    status, answer = request(api_site, "POST", "/v1/calls", {**CALL, "number": "+493012345678"})
    assert status == 403 and "(international)" in answer["error"]
    status, answer = request(api_site, "POST", "/v1/calls", CALL, in_progress=4)
    assert status == 403 and "(concurrent-calls)" in answer["error"]
    status, answer = request(api_site, "POST", "/v1/calls", CALL, spent=Decimal("1500.00"))
    assert status == 403 and "(spend-cap)" in answer["error"]


def test_a_call_that_passes_every_check_goes_to_the_switch(api_site):
    status, answer = request(api_site, "POST", "/v1/calls", CALL)
    assert status == 503 and answer["error"].startswith("the switch is not reachable")


def test_hang_up_transfer_and_listing(api_site):
    assert request(api_site, "DELETE", "/v1/calls/not-a-uuid")[0] == 400
    # A well-formed attended transfer asks the switch whose call it is: the switch is not running here.
    status, answer = request(api_site, "POST", "/v1/calls/0b0e3a52-7f0e-4b8e-9a51-2f1f3c1c5d00/transfer", {"to": "102", "attended": True})
    assert status == 503 and answer["error"].startswith("the switch is not reachable")
    status, answer = request(api_site, "POST", "/v1/calls/0b0e3a52-7f0e-4b8e-9a51-2f1f3c1c5d00/transfer", {"to": "102", "attended": "yes"})
    assert (status, answer["error"]) == (400, "attended: true or false")
    status, answer = request(api_site, "POST", "/v1/calls/0b0e3a52-7f0e-4b8e-9a51-2f1f3c1c5d00/transfer", {"to": "+7916"})
    assert status == 400 and answer["error"].startswith("to:")
    assert request(api_site, "GET", "/v1/organizations/12/calls") == (200, {"organization": "12", "calls": []})
    assert request(api_site, "GET", "/v1/organizations/12/calls", token=OTHER)[0] == 403
    assert request(api_site, "GET", "/v2/anything")[0] == 404


def test_an_attended_transfer_consults_an_employee_of_the_calls_organization(api_site):
    assert transfer({"to": "102", "attended": True}) == Transfer("102", True)
    assert transfer({"to": "600"}) == Transfer("600", False)
    consult_target(api_site, "12", Transfer("102", True))  # an employee of 12: consulted
    consult_target(api_site, "12", Transfer("600", False))  # a blind transfer may go to a ring group
    with pytest.raises(HttpError) as refused:
        consult_target(api_site, "12", Transfer("600", True))  # a group: nobody to consult
    assert (refused.value.status, str(refused.value)) == (400, "to: organization 12 has no employee 600 to consult (an attended transfer goes to an employee)")
    with pytest.raises(HttpError) as refused:
        consult_target(api_site, "34", Transfer("102", True))  # 102 is organization 12's
    assert refused.value.status == 400 and "organization 34 has no employee 102" in str(refused.value)
