"""Rules that span several parts of a site, checked after each part is valid.

Each check yields `(path, reason)` pairs so that a user sees every problem at
once, each named by where it is (``organizations.12.employees.101.forwarding.busy``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from bizpbx.settings import NumberKind, Organization, Site, Target, TargetKind

Problem = tuple[str, str]

# Whether the site's own secrets (the event socket's password, the trunks'
# passwords, the webhooks' keys) must be there: by default they must; the
# commands that use none of them read a site without them
# (`bizpbx.commands._site`). A secret that is given is checked either way.
SECRETS_REQUIRED: ContextVar[bool] = ContextVar("SECRETS_REQUIRED", default=True)


@contextmanager
def secrets_required(required: bool) -> Iterator[None]:
    token = SECRETS_REQUIRED.set(required)
    try:
        yield
    finally:
        SECRETS_REQUIRED.reset(token)


def check_site(site: Site) -> list[Problem]:
    problems: list[Problem] = []
    always = (_numbers, _trunks, _organization_ids, _api_clients)
    checks = (*always, _secrets) if SECRETS_REQUIRED.get() else always
    for check in checks:
        problems.extend(check(site))
    for org_id, org in site.organizations.items():
        problems.extend(_organization(site, org_id, org))
    return problems


def _numbers(site: Site) -> Iterator[Problem]:
    tariffs = site.tariffs
    for e164, number in site.numbers.items():
        path = f"numbers.{e164}"
        if number.kind is NumberKind.MAIN:
            if e164 != site.main_number.number:
                yield path, f"kind main, but the main number is {site.main_number.number} (main_number.number)"
            continue
        owner = site.organizations.get(number.organization)
        if owner is None:
            yield f"{path}.organization", f"unknown organization {number.organization!r}"
        elif not owner.has_telephony:
            yield (
                f"{path}.organization",
                f"organization {number.organization} has no telephony plan (profi or vip), so it could never answer this number: "
                "give it a plan, or the number to another organization",
            )
        plan_name = number.plan or (tariffs.individual_plan if number.kind is NumberKind.INDIVIDUAL else tariffs.hotline_plan)
        plan = tariffs.plans.get(plan_name)
        if plan is None:
            yield f"{path}.plan", f"unknown plan {plan_name!r} (tariffs.plans has {', '.join(tariffs.plans)})"
        elif plan.applies_to != number.kind.value:
            yield f"{path}.plan", f"plan {plan_name!r} applies to {plan.applies_to}, not to a {number.kind} number"
        if number.kind is NumberKind.HOTLINE and not e164.startswith("+7800"):
            yield path, "a hotline number is an 8-800 number (+7800…)"
        if number.kind is NumberKind.INDIVIDUAL:
            area = e164[2:5]
            if not e164.startswith("+7") or area not in tariffs.individual_connection_fees:
                yield path, f"no connection fee for area code {area}; add it to tariffs.individual_connection_fees"
        if site.trunk_delivering(e164) is None:
            yield path, "no trunk delivers this number; list it in a trunk's numbers"


def _trunks(site: Site) -> Iterator[Problem]:
    owner_of: dict[str, str] = {}
    for name, trunk in site.trunks.items():
        if trunk.transport == "tls" and not site.freeswitch.tls.enabled:
            yield f"trunks.{name}.transport", "tls needs freeswitch.tls.enabled: the trunk profile has no TLS listener or certificate without it"
        for index, number in enumerate(trunk.numbers):
            path = f"trunks.{name}.numbers.{index}"
            if number in owner_of:
                yield path, f"{number} is already delivered by trunk {owner_of[number]}"
            owner_of[number] = name
            if number != site.main_number.number and number not in site.numbers:
                yield path, f"{number} is not in numbers"
    main = site.main_number.number
    if main not in owner_of:
        users = list(_main_number_users(site))
        if users:
            more = f" (and {len(users) - 1} more)" if len(users) > 1 else ""
            yield "main_number.number", f"no trunk delivers the main number {main}, yet {users[0]}{more}: list it in a trunk's numbers"


def _main_number_users(site: Site) -> Iterator[str]:
    """What needs the main number delivered. A site whose organizations all
    have numbers of their own, and that neither routes nor presents the main
    number, does without it (its calls are then no number of the site)."""
    main = site.main_number.number
    if main in site.numbers:
        yield f"numbers.{main} lists it"
    for name, trunk in site.trunks.items():
        if trunk.caller_id == main:
            yield f"trunks.{name}.caller_id presents it"
    for org_id, org in site.organizations.items():
        if org.caller_id == main:
            yield f"organizations.{org_id}.caller_id presents it"
        for index, rule in enumerate(org.incoming):
            if rule.number == "main":
                yield f"organizations.{org_id}.incoming.{index} takes its calls"
        if org.has_telephony and not site.numbers_of(org_id):
            yield f"organization {org_id} has no number of its own, so callers reach it only through the main number"


def _secrets(site: Site) -> Iterator[Problem]:
    """Every secret the switch, the controller or a webhook needs and the site
    does not give, with where to give it."""

    def missing(path: str, why: str) -> Problem:
        variable = "BIZPBX_" + path.upper().replace(".", "__")
        return path, f"required{why}: put it in site.secrets.yml beside the site file, or set {variable}"

    if site.esl.password is None:
        yield missing("esl.password", "")
    for name, trunk in site.trunks.items():
        if trunk.auth == "registration" and trunk.password is None:
            yield missing(f"trunks.{name}.password", " (auth is registration)")
    for name, webhook in site.controller.webhooks.items():
        if webhook.secret is None:
            yield missing(f"controller.webhooks.{name}.secret", "")
    if site.controller.postgresql is not None and site.controller.postgresql.password is None:
        yield missing("controller.postgresql.password", " (the ledger is in PostgreSQL)")
    for name, client in site.controller.api.clients.items():
        if client.token is None:
            yield missing(f"controller.api.clients.{name}.token", "")


def _api_clients(site: Site) -> Iterator[Problem]:
    for name, client in site.controller.api.clients.items():
        for index, org_id in enumerate(client.organizations):
            if org_id not in site.organizations:
                yield f"controller.api.clients.{name}.organizations.{index}", f"unknown organization {org_id!r}"


def _organization_ids(site: Site) -> Iterator[Problem]:
    # Callers enter the ID after the main number; the collection ends at the
    # first complete ID, so no ID may begin another.
    ids = sorted(site.organizations)
    for shorter, longer in zip(ids, ids[1:]):
        if longer.startswith(shorter):
            yield f"organizations.{longer}", f"ID {longer} begins with ID {shorter}: callers could never reach {longer}"


def _organization(site: Site, org_id: str, org: Organization) -> Iterator[Problem]:
    base = f"organizations.{org_id}"
    extensions = set(org.employees)
    if org.owner not in extensions:
        yield f"{base}.owner", f"{org.owner} is not an employee of this organization"
    for name, group in org.ring_groups.items():
        if group.extension is not None:
            if group.extension in extensions:
                yield f"{base}.ring_groups.{name}.extension", f"{group.extension} is already used"
            extensions.add(group.extension)
        for index, member in enumerate(group.members):
            if member not in org.employees:
                yield f"{base}.ring_groups.{name}.members.{index}", f"{member} is not an employee"
        if len(set(group.members)) != len(group.members):
            yield f"{base}.ring_groups.{name}.members", "a member is listed twice"
    for path, target in _targets(org, base):
        yield from _target_exists(site, org, path, target)
    own_numbers = site.numbers_of(org_id)
    seen_rules: set[str] = set()
    for index, rule in enumerate(org.incoming):
        path = f"{base}.incoming.{index}"
        if rule.number != "main" and rule.number not in own_numbers:
            yield f"{path}.number", f"{rule.number} is not a number of this organization"
        if rule.number in seen_rules:
            yield f"{path}.number", f"a second rule for {rule.number}"
        seen_rules.add(rule.number)
    if org.caller_id is not None and org.caller_id not in own_numbers and org.caller_id != site.main_number.number:
        yield f"{base}.caller_id", f"{org.caller_id} is neither a number of this organization nor the main number"
    if org.trunk is not None and org.trunk not in site.trunks:
        yield f"{base}.trunk", f"unknown trunk {org.trunk!r}"
    yield from _forward_loops(org, base)


def _targets(org: Organization, base: str) -> Iterator[tuple[str, Target]]:
    for ext, employee in org.employees.items():
        forwarding = employee.forwarding
        path = f"{base}.employees.{ext}.forwarding"
        for field in ("unconditional", "busy", "unavailable"):
            target = getattr(forwarding, field)
            if target is not None:
                yield f"{path}.{field}", target
        if forwarding.no_answer is not None:
            yield f"{path}.no_answer.to", forwarding.no_answer.to
    for name, group in org.ring_groups.items():
        if group.fallback is not None:
            yield f"{base}.ring_groups.{name}.fallback", group.fallback
    for name, menu in org.ivr_menus.items():
        for digit, target in menu.options.items():
            yield f"{base}.ivr_menus.{name}.options.{digit}", target
        yield f"{base}.ivr_menus.{name}.fallback", menu.fallback
    for index, rule in enumerate(org.incoming):
        yield f"{base}.incoming.{index}.target", rule.target
        if rule.after_hours is not None:
            yield f"{base}.incoming.{index}.after_hours", rule.after_hours


def _target_exists(site: Site, org: Organization, path: str, target: Target) -> Iterator[Problem]:
    kind, value = target.kind, target.value
    if kind is TargetKind.EXTENSION and value not in org.employees:
        yield path, f"no employee with extension {value}"
    elif kind is TargetKind.VOICEMAIL:
        employee = org.employees.get(value)
        if employee is None:
            yield path, f"no employee with extension {value}"
        elif not employee.voicemail.enabled:
            yield path, f"voicemail of {value} is not enabled"
    elif kind is TargetKind.GROUP and value not in org.ring_groups:
        yield path, f"no ring group {value!r}"
    elif kind is TargetKind.IVR and value not in org.ivr_menus:
        yield path, f"no IVR menu {value!r}"
    elif kind is TargetKind.NUMBER and not org.has_telephony:
        yield path, "the organization has no telephony plan (profi or vip): only internal calls"


def _forward_loops(org: Organization, base: str) -> Iterator[Problem]:
    """Unconditional forwards (and IVR fallbacks) are followed without any
    input from the caller, so a cycle among them would never end."""

    def next_hop(node: Target) -> Target | None:
        if node.kind is TargetKind.EXTENSION and node.value in org.employees:
            return org.employees[node.value].forwarding.unconditional
        if node.kind is TargetKind.IVR and node.value in org.ivr_menus:
            return org.ivr_menus[node.value].fallback
        if node.kind is TargetKind.GROUP and node.value in org.ring_groups:
            return org.ring_groups[node.value].fallback
        return None

    reported: set[Target] = set()
    starts = [Target(TargetKind.EXTENSION, ext) for ext in org.employees]
    starts += [Target(TargetKind.IVR, name) for name in org.ivr_menus]
    starts += [Target(TargetKind.GROUP, name) for name in org.ring_groups]
    for start in starts:
        chain = [start]
        node = next_hop(start)
        while node is not None and node not in chain:
            chain.append(node)
            node = next_hop(node)
        if node == start and start not in reported:
            reported.update(chain)
            yield base, "forwarding loop: " + " → ".join(str(t) for t in [*chain, start])
