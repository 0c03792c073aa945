"""The SIP proxy's configuration (Kamailio) of a cluster site, from the templates in
``templates/kamailio/``: `render_proxy` returns ``{relative path: bytes}`` as `render_site`
does, written out by the same `file_tree`. Same site, same bytes.

Kamailio's configuration language is not XML: values go in through a finalizer that refuses
anything that could end a quoted string or a statement, and the phones' credentials are HA1
digests (what Kamailio's digest check needs), never the passwords.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import jinja2

from bizpbx import fs_vocabulary
from bizpbx.render.renderer import TEMPLATES_DIR, RenderError, mask_matches
from bizpbx.settings import Site

# Where the sip_proxy role installs the rendered files (and its own database.cfg beside them).
CONF_DIR = Path("/etc/kamailio/bizpbx")
PROXY_FILES = ("kamailio.cfg", "dispatcher.list", "subscribers.cfg")
# The dispatcher's sets: the nodes' trunk profiles and their phone profiles.
SETS = {"trunks": 1, "phones": 2}
# How long a node has to answer an INVITE (100 Trying) before the next node gets the call: a
# running FreeSWITCH answers in milliseconds, so this is the worst a call waits for a dead node
# that the probes have not caught yet.
NODE_ANSWER_MS = 1500
# How long a request the proxy sends waits for a first reply (tm's fr_timer, 30 s by default):
# a node's probe unanswered this long marks the node inactive, so a stopped node is found out
# within probe_seconds plus this. Nodes, phones and trunks answer a request (100 Trying for an
# INVITE) within milliseconds; an INVITE's ringing is fr_inv_timer's, unchanged.
FIRST_REPLY_MS = 2000

_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.:/+=@-]*\Z")
_SUBSCRIBER_LINE = re.compile(r'(\$sht\(subscriber=>[^)]*\) = ")([0-9a-f]*)(";)')


def proxy_domain(site: Site) -> str:
    """The SIP domain phones register to: the site's sip_domain, else the proxy's address."""
    assert site.cluster is not None
    return site.freeswitch.sip_domain or str(site.cluster.proxy.address)


def render_proxy(site: Site, templates: Path | None = None, conf_dir: Path = CONF_DIR) -> dict[str, bytes]:
    """The proxy's files, by name; `conf_dir` is where they will be (the files name each other)."""
    if site.cluster is None:
        raise RenderError("the site has no cluster section: there is no proxy to render (`cluster.proxy`)")
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader((templates or TEMPLATES_DIR) / "kamailio"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        finalize=_cfg_value,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    domain = proxy_domain(site)
    variables: dict[str, Any] = {
        "site": site,
        "proxy": site.cluster.proxy,
        "nodes": sorted(site.cluster.nodes.items()),
        "domain": domain,
        "conf_dir": conf_dir,
        "sets": SETS,
        "node_answer_ms": NODE_ANSWER_MS,
        "first_reply_ms": FIRST_REPLY_MS,
        "trunk_sources": sorted({str(n) for trunk in site.trunks.values() for n in trunk.source_addresses}),
        "phone_networks": sorted(str(n) for n in site.freeswitch.phone_networks),
        "subscribers": _subscribers(site, domain),
    }
    files = {}
    for name in PROXY_FILES:
        try:
            files[name] = environment.get_template(f"{name}.j2").render(variables).encode("utf-8")
        except jinja2.TemplateError as error:
            raise RenderError(f"template kamailio/{name}.j2: {type(error).__name__}: {error}") from None
        except ValueError as error:
            raise RenderError(f"template kamailio/{name}.j2: {error}") from None
    return files


def mask_proxy_secrets(old: str, new: str) -> tuple[str, str]:
    """Both sides of a diff of a proxy file with every credential masked; one that differs shows as a change."""
    return mask_matches(_SUBSCRIBER_LINE, old, new)


def _subscribers(site: Site, realm: str) -> list[tuple[str, str]]:
    found = []
    for org_id in sorted(site.organizations):
        for ext, employee in sorted(site.organizations[org_id].employees.items()):
            user = fs_vocabulary.user_id(org_id, ext)
            if employee.password is None:
                raise RenderError(f"organizations.{org_id}.employees.{ext}.password: not set (a cluster's passwords are given, never generated)")
            secret = f"{user}:{realm}:{employee.password.get_secret_value()}"
            found.append((user, hashlib.md5(secret.encode("utf-8"), usedforsecurity=False).hexdigest()))
    return found


def _cfg_value(value: Any) -> str:
    text = str(value)
    if not _SAFE_VALUE.match(text):
        raise ValueError(f"{text!r} cannot go into Kamailio's configuration (only letters, digits and . _ : / + = @ -)")
    return text
