"""What a site must say about its numbers, and no more (issue 10: a site had to
list the main number on a trunk even if nothing used it; an organization
without a telephony plan could own a number it can never answer, and
validate, invoice and route disagreed about it)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from bizpbx.render import render_site
from bizpbx.routing import Call, Hangup, Source, route
from bizpbx.site_loader import SiteError, load_site
from bizpbx.routing.graph import route_graph

MAIN = "+74952121562"


def edited(site_file: Path, change) -> Path:
    data = yaml.safe_load(site_file.read_text(encoding="utf-8"))
    change(data)
    site_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return site_file


def problems_of(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(SiteError) as caught:
        load_site(path)
    return caught.value.problems


def without_the_main_number(data: dict) -> None:
    """Nothing of the demo site refers to the main number any more: every
    organization with a plan has a number of its own."""
    trunk = data["trunks"]["carrier"]
    trunk["numbers"].remove(MAIN)
    trunk.pop("caller_id")
    data["numbers"].pop(MAIN)


def _take_the_number_of_34(data: dict) -> None:
    data["numbers"].pop("+78005553535")
    data["trunks"]["carrier"]["numbers"].remove("+78005553535")
    data["organizations"]["34"].pop("incoming")


def test_an_unused_main_number_need_not_be_on_a_trunk(lab_site_copy):
    site = load_site(edited(lab_site_copy, without_the_main_number))
    assert site.trunk_delivering(MAIN) is None
    # Nothing answers it: routing, the fallback and the renderer agree.
    plan = route(Call(Source.TRUNK, "+74957654321", MAIN), site, datetime(2026, 11, 25, 10, tzinfo=ZoneInfo("Europe/Moscow")))
    assert plan.steps == (Hangup("UNALLOCATED_NUMBER", f"{MAIN} is not a number of this site"),)
    routes = route_graph(site)
    assert MAIN not in [entry.number for entry in routes.incoming]
    assert routes.main_number_ids == ()
    public = render_site(load_site(lab_site_copy, generate_missing_secrets=True))["dialplan/public.xml"]
    assert MAIN.lstrip("+")[1:] not in public.decode()


@pytest.mark.parametrize(
    "use, named",
    [
        (lambda d: d["organizations"]["34"]["incoming"].append({"number": "main", "target": "extension:201"}), "organizations.34.incoming.1"),
        (lambda d: d["organizations"]["12"].update(caller_id=MAIN), "organizations.12.caller_id"),
        (lambda d: _take_the_number_of_34(d), "organization 34"),
    ],
    ids=["incoming rule", "caller ID", "organization without a number"],
)
def test_a_main_number_in_use_must_be_on_a_trunk(lab_site_copy, use, named):
    def change(data):
        without_the_main_number(data)
        use(data)

    problems = problems_of(edited(lab_site_copy, change))
    reasons = [reason for path, reason in problems if path == "main_number.number"]
    assert len(reasons) == 1, problems
    assert reasons[0].startswith(f"no trunk delivers the main number {MAIN}, yet ") and named in reasons[0]
    assert reasons[0].endswith("list it in a trunk's numbers")


def test_an_organization_without_a_plan_cannot_own_a_number(lab_site_copy):
    def give_number_to_7(data):
        data["numbers"]["+74951234567"]["organization"] = "7"
        data["organizations"]["12"].pop("incoming")
        data["organizations"]["12"].pop("caller_id")

    problems = problems_of(edited(lab_site_copy, give_number_to_7))
    assert (
        "numbers.+74951234567.organization",
        "organization 7 has no telephony plan (profi or vip), so it could never answer this number: give it a plan, or the number to another organization",
    ) in problems
