"""The nodes of the route graph (`bizpbx.routing.graph` lays them out): plain
data, each naming the nodes a call moves on to."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from bizpbx.settings import BusinessHours, NumberKind, Target, TargetKind


@dataclass(frozen=True, slots=True)
class Ring:
    """Ring phones (all at once, or one after another); when nobody answers
    go to the node for the outcome (None: hang up with the failure's cause)."""

    node: str
    target: Target
    extensions: tuple[str, ...]
    sequential: bool
    ring_seconds: int | None  # None: until the caller gives up
    on_busy: str | None
    on_no_answer: str | None
    on_unavailable: str | None
    in_loop: bool = False

    @property
    def forwards_from(self) -> str | None:
        """The employee whose forwarding the outcomes are (None for a group)."""
        return self.target.value if self.target.kind is TargetKind.EXTENSION else None


@dataclass(frozen=True, slots=True)
class Forward:
    """Straight on to another node: an employee's unconditional forward, or
    the busy outcome of a phone on do-not-disturb (`why`)."""

    node: str
    target: Target
    to: str
    in_loop: bool = False
    why: str | None = None  # None: the employee forwards every call


@dataclass(frozen=True, slots=True)
class Ivr:
    """An IVR menu: a chosen option leads to its node, no valid key to the fallback."""

    node: str
    target: Target
    menu: str  # the menu's name in the organization
    options: tuple[tuple[str, str], ...]  # (digit, node)
    fallback: str
    in_loop: bool = False
    # The organization has looping nodes: the menu keeps their count apart from its options.
    counts_loops: bool = False


@dataclass(frozen=True, slots=True)
class VoicemailBox:
    node: str
    target: Target
    extension: str


@dataclass(frozen=True, slots=True)
class DialOut:
    node: str
    target: Target
    number: str  # E.164
    trunk: str
    caller_id: str | None


@dataclass(frozen=True, slots=True)
class Refuse:
    """The call ends here, after `sound` when there is one."""

    node: str
    target: Target
    cause: str
    why: str
    sound: str | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    """Business hours of an incoming rule, in the site's time zone."""

    node: str
    hours: BusinessHours
    open: str
    closed: str


Node = Ring | Forward | Ivr | VoicemailBox | DialOut | Refuse | Schedule
LOOPING = (Ring, Forward, Ivr)  # the nodes a call can come back to without input


@dataclass(frozen=True, slots=True)
class Recording:
    """Whether a call is recorded (from its answer to its end, by the switch) and why."""

    record: bool
    why: str
    notice: bool = False  # the caller hears the notice before being connected


@dataclass(frozen=True, slots=True)
class Incoming:
    """A number the trunk delivers, and where its calls go."""

    number: str  # E.164
    kind: NumberKind
    trunk: str
    org_id: str | None  # None for the main number
    refuse: str | None  # hang-up cause when the organization takes no calls
    callers: str | None  # pattern a caller's number must match (8-800)
    node: str | None  # in the organization's graph
    recording: Recording | None = None  # None: the call is not the organization's to record
    blocklist: tuple[str, ...] = ()  # callers the organization refuses (bizpbx.routing.callers)


@dataclass(frozen=True, slots=True)
class Outbound:
    trunk: str
    caller_id: str | None


@dataclass(frozen=True)
class OrganizationRoutes:
    org_id: str
    nodes: tuple[Node, ...]  # sorted by name
    dialable: tuple[tuple[str, str], ...]  # (what a phone dials, node), sorted
    numbers: tuple[tuple[str, str], ...]  # (E.164 number, node) for its numbers; none without telephony
    main: str | None  # node for callers who entered this ID on the main number
    outbound: Outbound | None  # None: internal calls only
    voicemail_boxes: tuple[str, ...]  # extensions whose box can be checked
    main_recording: Recording | None = None  # for callers who entered this ID on the main number
    phone_recordings: tuple[tuple[str, Recording], ...] = ()  # (extension, its placed calls' recording), sorted
    blocklist: tuple[str, ...] = ()  # callers refused on its numbers and after its ID on the main number

    @cached_property
    def by_name(self) -> dict[str, Node]:
        return {node.node: node for node in self.nodes}


@dataclass(frozen=True)
class SiteRoutes:
    incoming: tuple[Incoming, ...]  # sorted by number
    main_number_ids: tuple[str, ...]  # IDs a caller may enter on the main number
    organizations: tuple[OrganizationRoutes, ...]  # sorted by ID

    def organization(self, org_id: str | None) -> OrganizationRoutes | None:
        return self._by_id.get(org_id) if org_id is not None else None

    @cached_property
    def _by_id(self) -> dict[str, OrganizationRoutes]:
        return {org.org_id: org for org in self.organizations}
