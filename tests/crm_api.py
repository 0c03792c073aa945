"""One request to the controller's click-to-call API, as the CRM makes it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def crm_request(base_url: str, token: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """The API's status and JSON answer to `method` `path` with the CRM's bearer token."""
    request = urllib.request.Request(
        base_url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
