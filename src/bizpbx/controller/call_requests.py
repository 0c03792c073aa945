"""The click-to-call API's requests, read and checked without I/O: who asks
(a CRM's bearer token), for which organization, and whether the request is
well formed. Every refusal is an `HttpError` with the HTTP status and a
message naming the field at fault; tokens are compared in constant time and
never appear in a message.
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from bizpbx.controller.http_server import HttpError
from bizpbx.numbers.e164 import e164_digits
from bizpbx.settings import Site

MAX_BODY = 16 * 1024
MAX_REFERENCE = 200
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# What a reference may hold: it travels as a channel variable into events (no spaces, braces, commas, quotes).
REFERENCE = re.compile(r"^[A-Za-z0-9_.:/#@-]{1,200}$")


@dataclass(frozen=True, slots=True)
class Client:
    name: str
    organizations: frozenset[str] | None  # None: every organization


@dataclass(frozen=True, slots=True)
class PlaceCall:
    organization: str
    extension: str
    number: str  # E.164
    reference: str | None


@dataclass(frozen=True, slots=True)
class Transfer:
    to: str  # an extension (or ring group extension) of the call's organization
    attended: bool


def authenticate(site: Site, authorization: str | None) -> Client:
    """The CRM whose token the Authorization header carries (401 otherwise)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HttpError(401, "missing credentials: send Authorization: Bearer <token>")
    offered = token.strip().encode()
    found = None
    for name, client in site.controller.api.clients.items():
        secret = client.token.get_secret_value().encode() if client.token else b""
        # Every token compared, each in constant time: which one matched takes no longer to find.
        if secret and hmac.compare_digest(secret, offered):
            found = Client(name, frozenset(client.organizations) if client.organizations else None)
    if found is None:
        raise HttpError(401, "the token is not one of this site's API clients")
    return found


def authorize(site: Site, client: Client, org_id: str) -> None:
    if org_id not in site.organizations:
        raise HttpError(404, f"organization {org_id!r} is not in this site")
    if client.organizations is not None and org_id not in client.organizations:
        raise HttpError(403, f"client {client.name} may not act for organization {org_id}")


def read_json(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY:
        raise HttpError(413, f"the body is over {MAX_BODY} bytes")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HttpError(400, f"the body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise HttpError(400, "the body must be a JSON object")
    return data


def _text(data: dict[str, Any], field: str, *, required: bool = True) -> str | None:
    value = data.get(field)
    if value is None and not required:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise HttpError(400, f"{field}: required, a non-empty string")
    return value.strip()


def _no_other_fields(data: dict[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise HttpError(400, f"{unknown[0]}: unknown field (known: {', '.join(known)})")


def place_call(site: Site, client: Client, data: dict[str, Any]) -> PlaceCall:
    """POST /v1/calls: checked against the site (the toll-fraud guard's counters come after, at the controller)."""
    _no_other_fields(data, ("organization", "extension", "number", "reference"))
    org_id = _text(data, "organization")
    authorize(site, client, org_id)
    org = site.organizations[org_id]
    extension = _text(data, "extension")
    if extension not in org.employees:
        raise HttpError(400, f"extension: organization {org_id} has no employee {extension}")
    number = _text(data, "number")
    digits = e164_digits(number)
    if digits is None:
        raise HttpError(400, f"number: {number!r} is not a phone number")
    reference = _text(data, "reference", required=False)
    if reference is not None and not REFERENCE.fullmatch(reference):
        raise HttpError(400, f"reference: up to {MAX_REFERENCE} letters, digits and _ . : / # @ -")
    if not org.has_telephony:
        raise HttpError(409, f"organization {org_id} has no telephony plan: internal calls only")
    return PlaceCall(org_id, extension, f"+{digits}", reference)


def transfer(data: dict[str, Any]) -> Transfer:
    _no_other_fields(data, ("to", "attended"))
    to = _text(data, "to")
    if not re.fullmatch(r"[0-9]{2,6}", to):
        raise HttpError(400, f"to: {to!r} is not an extension (2 to 6 digits)")
    attended = data.get("attended", False)
    if not isinstance(attended, bool):
        raise HttpError(400, "attended: true or false")
    if attended:
        raise HttpError(501, "attended: an attended transfer is not implemented; the phone's own transfer key does it")
    return Transfer(to, attended)


def call_uuid(text: str) -> str:
    if not UUID.fullmatch(text):
        raise HttpError(400, f"{text!r} is not a call UUID")
    return text.lower()
