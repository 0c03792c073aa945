"""The FreeSWITCH 1.10 configuration tree of a site, from the Jinja2 templates.

`render_site` returns the whole tree as ``{relative path: bytes}``; writing
it out (atomically) is `bizpbx.render.file_tree`'s job. Same site, same bytes:
everything is iterated in sorted order and nothing depends on the time or
the machine beyond the site (and the tz database, for the site's zone).

The templates live beside this module in ``templates/``, package data of
the wheel, so an editable install and a virtualenv on a server find them the
same way.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape
from pydantic import SecretStr

from bizpbx import cdr, fs_vocabulary
from bizpbx.render import dialplan
from bizpbx.render.file_tree import MASK
from bizpbx.posix_tz import TimeZoneError, posix_rule
from bizpbx.settings import Site
from bizpbx.routing.graph import route_graph
from bizpbx.sounds import phrases_file, voice_dir

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

MODULES = (
    "mod_console",
    "mod_logfile",
    "mod_event_socket",
    "mod_sofia",
    "mod_loopback",
    "mod_commands",
    "mod_dptools",
    "mod_hash",
    "mod_dialplan_xml",
    "mod_sndfile",
    "mod_native_file",
    "mod_tone_stream",
    "mod_local_stream",  # hold music
    "mod_cdr_csv",
    "mod_voicemail",
)


def modules_for(site: Site) -> tuple[str, ...]:
    """The modules the switch loads: MODULES and the say module of the site's language (numbers,
    dates and money spoken in it; the freeswitch role's source build has both mod_say_ru and mod_say_en)."""
    return (*MODULES, f"mod_say_{site.language}")
# Codecs every FreeSWITCH build has in its core, for the phones.
PHONE_CODECS = ("PCMA", "PCMU")
# Sample rates of the hold music stream (local_stream.conf: music/<rate> under the sounds directory).
HOLD_MUSIC_RATES = (8000, 16000)
# Names of the acl.conf lists.
ACL = {"trunks": "trunks", "phones": "phones", "esl": "esl"}

# Rendered once each, at the same path without .j2.
SINGLE_FILES = (
    "freeswitch.xml",
    "vars.xml",
    "autoload_configs/acl.conf.xml",
    "autoload_configs/cdr_csv.conf.xml",
    "autoload_configs/console.conf.xml",
    "autoload_configs/event_socket.conf.xml",
    "autoload_configs/ivr.conf.xml",
    "autoload_configs/local_stream.conf.xml",
    "autoload_configs/logfile.conf.xml",
    "autoload_configs/modules.conf.xml",
    "autoload_configs/sofia.conf.xml",
    "autoload_configs/switch.conf.xml",
    "autoload_configs/timezones.conf.xml",
    "autoload_configs/voicemail.conf.xml",
    "directory/domain.xml",
)
ORGANIZATION_DIRECTORY = "directory/organization.xml.j2"
CONTEXTS = "dialplan/contexts.xml.j2"


class RenderError(Exception):
    """A render that failed; the message names the template and line when one is at fault."""


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    id: str
    extension: str
    name: str
    password: SecretStr
    voicemail_pin: SecretStr | None
    voicemail_email: str | None


def render_site(site: Site, templates: Path | None = None, node: str | None = None) -> dict[str, bytes]:
    """Every file of the configuration tree, by path relative to its root: a single server's,
    or with a cluster the tree of the node named `node`."""
    templates = templates or TEMPLATES_DIR
    cluster_node = _cluster_node(site, node)
    try:
        rule = posix_rule(site.timezone)
    except TimeZoneError as error:
        raise RenderError(str(error)) from None
    environment = _environment(templates)
    routes = route_graph(site)
    site_wide, per_org = dialplan.contexts(site, routes)
    common = {
        "site": site,
        "acl": ACL,
        "public_context": fs_vocabulary.PUBLIC_CONTEXT,
        "voicemail_profile": fs_vocabulary.VOICEMAIL_PROFILE,
        "node": cluster_node,
        "proxy": site.cluster.proxy if site.cluster else None,
        "voice_dir": voice_dir(site),
        "phrases_file": phrases_file(site),
    }
    single = {
        "modules": modules_for(site),
        "acl_lists": _acl_lists(site),
        "phone_codecs": ",".join(PHONE_CODECS),
        "trunk_codecs": ",".join(dict.fromkeys(codec for _, trunk in sorted(site.trunks.items()) for codec in trunk.codecs)),
        "ivr_menus": dialplan.ivr_menus(site, routes),
        "cdr_template_name": cdr.CDR_TEMPLATE_NAME,
        "cdr_template": cdr.cdr_csv_template(),
        "timezone_rule": rule,
        "music_rates": HOLD_MUSIC_RATES,
        "tls_trunks": any(trunk.transport == "tls" for trunk in site.trunks.values()),
    }
    files: dict[str, bytes] = {}
    render = _Renderer(environment, common)
    for path in SINGLE_FILES:
        files[path] = render(f"{path}.j2", single)
    files["dialplan/public.xml"] = render(CONTEXTS, {"contexts": site_wide})
    for org_id in sorted(site.organizations):
        files[f"dialplan/org-{org_id}.xml"] = render(CONTEXTS, {"contexts": per_org[org_id]})
        files[f"directory/org-{org_id}.xml"] = render(ORGANIZATION_DIRECTORY, _directory(site, org_id))
    return files


# Where a secret may be written: the value of one of these <param>s, and
# nowhere else. Templates write secrets only through reveal(), and the
# renderer refuses a secret found anywhere else, so masking these values
# masks every secret of any tree bizpbx wrote, old or new, whatever the
# secret is (render --diff never knows the old ones).
SECRET_PARAMS = ("password", "vm-password")
_SECRET_AT = "|".join(re.escape(name) for name in SECRET_PARAMS)
_SECRET_VALUE = re.compile(rf'(<param\s+name="(?:{_SECRET_AT})"\s+value=")([^"]*)(")')
# reveal() brackets each secret with these (XML cannot hold them, so no value can).
_OPEN, _CLOSE = "\x01", "\x02"
_REVEALED = re.compile(rf'(<param name="(?:{_SECRET_AT})" value="){_OPEN}([^"{_OPEN}{_CLOSE}]*){_CLOSE}(")')


def mask_secrets(old: str, new: str) -> tuple[str, str]:
    """Both sides of a diff with the value of every secret parameter masked.
    A value the other side does not have is masked as ``********(old)`` or
    ``********(new)``, so that a changed password still shows as a change."""
    return mask_matches(_SECRET_VALUE, old, new)


def mask_matches(secret: re.Pattern[str], old: str, new: str) -> tuple[str, str]:
    """`mask_secrets` for any file: `secret`'s second group is the secret, its first and third
    what stays around it."""
    old_values = {match[2] for match in secret.finditer(old)}
    new_values = {match[2] for match in secret.finditer(new)}

    def masking(others: set[str], label: str) -> Callable[[re.Match[str]], str]:
        return lambda match: f"{match[1]}{MASK if match[2] in others else f'{MASK}({label})'}{match[3]}"

    return secret.sub(masking(new_values, "old"), old), secret.sub(masking(old_values, "new"), new)


def _place_secrets(text: str) -> str:
    """Take reveal()'s brackets off every secret, refusing one that is not
    the value of a secret parameter (render --diff could not mask it)."""
    if _OPEN not in text and _CLOSE not in text:
        return text
    text = _REVEALED.sub(r"\g<1>\g<2>\g<3>", text)
    if _OPEN in text or _CLOSE in text:
        line = text.count("\n", 0, max(text.find(_OPEN), text.find(_CLOSE))) + 1
        raise ValueError(f"line {line} writes a secret outside the value of a {' or '.join(SECRET_PARAMS)} <param>, where render --diff cannot mask it")
    return text


def secret_values(site: Site) -> set[str]:
    """Every secret of the site, to mask them wherever output is shown."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.add(value.get_secret_value())
        elif hasattr(value, "__pydantic_fields__"):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(site)
    return found


@dataclass(frozen=True, slots=True)
class NodeOfCluster:
    name: str
    address: str


def _cluster_node(site: Site, node: str | None) -> NodeOfCluster | None:
    if site.cluster is None:
        if node is not None:
            raise RenderError(f"node {node!r}: the site has no cluster section, so it renders one server's configuration (leave --node out)")
        return None
    names = ", ".join(sorted(site.cluster.nodes))
    if node is None:
        raise RenderError(f"the site is a cluster: render each node's configuration with --node NAME ({names})")
    if node not in site.cluster.nodes:
        raise RenderError(f"node {node!r} is not in cluster.nodes ({names})")
    return NodeOfCluster(node, str(site.cluster.nodes[node].address))


def _acl_lists(site: Site) -> list[tuple[str, list[str]]]:
    if site.cluster is not None:
        # Phones and trunks reach a node only through the proxy: its address is their only source.
        trunk_sources = phone_sources = [f"{site.cluster.proxy.address}/32"]
    else:
        trunk_sources = sorted({str(network) for trunk in site.trunks.values() for network in trunk.source_addresses})
        phone_sources = sorted(str(n) for n in site.freeswitch.phone_networks)
    return sorted(
        [
            (ACL["trunks"], trunk_sources),
            (ACL["phones"], phone_sources),
            (ACL["esl"], sorted(str(n) for n in site.esl.acl)),
        ]
    )


def _directory(site: Site, org_id: str) -> dict[str, Any]:
    org = site.organizations[org_id]
    users = []
    for ext in sorted(org.employees):
        employee = org.employees[ext]
        if employee.password is None:
            raise RenderError(f"organizations.{org_id}.employees.{ext}.password: not set (render generates missing passwords first)")
        voicemail = employee.voicemail
        pin = voicemail.pin if voicemail.enabled else None
        if voicemail.enabled and pin is None:
            raise RenderError(f"organizations.{org_id}.employees.{ext}.voicemail.pin: not set (render generates missing PINs first)")
        users.append(
            DirectoryUser(
                id=fs_vocabulary.user_id(org_id, ext),
                extension=ext,
                name=employee.name,
                password=employee.password,
                voicemail_pin=pin,
                voicemail_email=voicemail.email if voicemail.enabled else None,
            )
        )
    return {
        "group": fs_vocabulary.phones_context(org_id),
        "context": fs_vocabulary.phones_context(org_id),
        "org_id": org_id,
        "users": users,
        # Who holds a call sets what the other party hears: the organization's phones carry its music.
        "hold_music": org.hold_music,
    }


# --- Jinja2 ---------------------------------------------------------------------------

# FreeSWITCH reads its XML through a line preprocessor before parsing it: it
# expands $${name} and treats a line naming X-PRE-PROCESS as a directive. A
# value from the site must never do either, so those characters go out as
# character references, which the XML parser turns back into themselves.
_PREPROCESSOR_HAZARDS = re.compile(r"\$|x-pre-process|[\n\r\t]", re.IGNORECASE)
_PLAIN = re.compile(r"[^&<>\"'$\n\r\t]*\Z")
_NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _neutralise(match: re.Match[str]) -> str:
    text = match.group(0)
    if text == "$":
        return "&#36;" if match.string.startswith("${", match.start() + 1) else text
    if text in "\n\r\t":
        return f"&#{ord(text)};"
    return text.replace("-", "&#45;")


def xml_value(value: Any) -> Markup:
    """How a value from the site is written into the XML: escaped for XML and
    for FreeSWITCH's preprocessor."""
    if isinstance(value, Markup):
        return value
    text = str(value)
    control = _NOT_IN_XML.search(text)
    if control:
        raise ValueError(f"{text!r} holds the control character U+{ord(control.group(0)):04X}, which XML cannot carry")
    if _PLAIN.match(text) and "pre-process" not in text.lower():
        return Markup(text)
    return Markup(_PREPROCESSOR_HAZARDS.sub(_neutralise, str(escape(text))))


def _environment(templates: Path) -> jinja2.Environment:
    if not templates.is_dir():
        raise RenderError(f"templates directory {templates} is missing")
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        finalize=xml_value,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.globals["reveal"] = _reveal
    return environment


def _reveal(secret: SecretStr) -> Markup:
    """A secret's value for a template, escaped, bracketed for `_place_secrets`."""
    return Markup(_OPEN) + xml_value(secret.get_secret_value()) + Markup(_CLOSE)


class _Renderer:
    def __init__(self, environment: jinja2.Environment, common: dict[str, Any]) -> None:
        self.environment = environment
        self.common = common

    def __call__(self, name: str, variables: dict[str, Any]) -> bytes:
        try:
            template = self.environment.get_template(name)
            text = template.render({**self.common, **variables})
        except jinja2.TemplateSyntaxError as error:
            raise RenderError(f"template {error.filename or error.name}:{error.lineno}: {error.message}") from None
        except jinja2.TemplateNotFound as error:
            raise RenderError(f"template {error.name} not found in {self.environment.loader.searchpath[0]}") from None  # type: ignore[union-attr]
        except Exception as error:
            raise RenderError(f"template {_template_line(error, name)}: {type(error).__name__}: {error}") from None
        try:
            return _place_secrets(text).encode("utf-8")
        except ValueError as error:
            raise RenderError(f"template {name}: {error}") from None


def _template_line(error: Exception, name: str) -> str:
    """`file:line` of the innermost template frame of a rendering error."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.endswith(".j2"):
            return f"{frame.filename}:{frame.lineno}"
    return name
