"""The site model: the single description of a bizpbx site.

Everything reads it: the CLI, the FreeSWITCH renderer, the Ansible roles
(through `bizpbx validate` and `bizpbx show`) and the controller. A site is a
YAML file; every value can be overridden from the environment (prefix
``BIZPBX_``, ``__`` between levels, e.g. ``BIZPBX_ESL__PASSWORD`` or
``BIZPBX_TRUNKS__CARRIER__PASSWORD``). Collections are mappings keyed by
identity (trunk name, organization ID, extension, menu name) so that an
override or an error names the thing itself, not a list index.

Structural checks live on the models, which validate data and read no file;
rules that span several parts of a site live in `bizpbx.site_rules`, and
reading the site's files (the YAML, its overlays, rate decks) in
`bizpbx.site_loader`. The modules here, one part each: `fields` (value types,
secrets, the base model), `targets`, `tariffs` (with the defaults in
``default_tariffs.yml``), `rate_decks`, `trunks`, `organizations`, `switch`,
`tls` (SIP over TLS and SRTP), `controller`, `recordings`, `cluster`, `site`.
"""

from bizpbx.settings.cluster import Cluster, ClusterNode, SipProxy
from bizpbx.settings.controller import EVENT_NAMES, Backups, ControllerSettings, MetricsListen, PostgresLedger, Webhook
from bizpbx.settings.fields import SITE_DIR, WELL_KNOWN_PASSWORDS, E164, Digits, Extension, Model, Money, Name, Port, SoundPath
from bizpbx.settings.organizations import (
    WEEKDAYS,
    BusinessHours,
    Day,
    Employee,
    Forwarding,
    IncomingRule,
    IvrMenuSettings,
    NoAnswer,
    Number,
    NumberKind,
    Organization,
    OutboundPolicy,
    RingGroup,
    VoicemailSettings,
)
from bizpbx.settings.rate_decks import READ_DECKS, RateDeck, RateRow, UnreadableDeck
from bizpbx.settings.recordings import RecordingPolicy, Recordings, RecordingsHttp
from bizpbx.settings.site import Site
from bizpbx.settings.switch import SESSIONS_PER_CALL, Esl, FreeSwitch, MainNumber, SipProfile
from bizpbx.settings.targets import CallTarget, Target, TargetKind
from bizpbx.settings.tariffs import HotlineOrigin, Increments, TariffPlan, Tariffs
from bizpbx.settings.trunks import KNOWN_CODECS, Trunk

__all__ = [
    "E164",
    "EVENT_NAMES",
    "KNOWN_CODECS",
    "READ_DECKS",
    "SESSIONS_PER_CALL",
    "SITE_DIR",
    "WEEKDAYS",
    "WELL_KNOWN_PASSWORDS",
    "BusinessHours",
    "CallTarget",
    "Cluster",
    "ClusterNode",
    "ControllerSettings",
    "Day",
    "Digits",
    "Employee",
    "Esl",
    "Extension",
    "Forwarding",
    "FreeSwitch",
    "HotlineOrigin",
    "IncomingRule",
    "Increments",
    "IvrMenuSettings",
    "MetricsListen",
    "Backups",
    "MainNumber",
    "Model",
    "Money",
    "Name",
    "NoAnswer",
    "Number",
    "NumberKind",
    "Organization",
    "OutboundPolicy",
    "Port",
    "RateDeck",
    "RateRow",
    "RecordingPolicy",
    "Recordings",
    "RecordingsHttp",
    "RingGroup",
    "SipProfile",
    "SipProxy",
    "Site",
    "SoundPath",
    "Target",
    "TargetKind",
    "TariffPlan",
    "Tariffs",
    "Trunk",
    "UnreadableDeck",
    "VoicemailSettings",
    "PostgresLedger",
    "Webhook",
]
