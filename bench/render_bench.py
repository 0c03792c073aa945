"""Benchmark (not a test): render a site of 1 000 organizations and 20 000 extensions.

Prints the time to load and validate the site, to render the tree, and to
write it out. Run: .venv/bin/python bench/render_bench.py [ORGANIZATIONS [EXTENSIONS_PER_ORG]]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

from bizpbx.render.file_tree import replace_tree
from bizpbx.render import render_site
from bizpbx.site_loader import load_site


def site_data(organizations: int, per_org: int) -> dict:
    main = "+74952121562"
    numbers = {main: {"kind": "main"}}
    orgs = {}
    for index in range(organizations):
        org_id = str(1000 + index)  # four digits each: no ID begins another
        number = f"+7495{3000000 + index:07d}"
        if index % 2:  # a number only for an organization with a telephony plan: one without could never answer it
            numbers[number] = {"kind": "individual", "organization": org_id}
        employees = {
            str(100 + e): {
                "name": f"Сотрудник {e} <{org_id}> & «Ко»",
                "password": f"pw-{org_id}-{e}-0123456789",
                **({"voicemail": {"enabled": True, "pin": "482913"}} if e == 0 else {}),
                **({"forwarding": {"busy": "extension:100", "no_answer": {"after_seconds": 15, "to": "voicemail:100"}}} if e == 1 else {}),
            }
            for e in range(per_org)
        }
        orgs[org_id] = {
            "name": f"Организация {org_id}",
            "plan": "profi" if index % 2 else None,
            "owner": "100",
            "employees": employees,
            "ring_groups": {"sales": {"extension": "600", "members": ["101", "102", "103"], "fallback": "voicemail:100"}},
            "ivr_menus": {"main": {"greeting": "ivr/ivr-welcome.wav", "options": {"1": "group:sales", "2": "extension:101"}, "fallback": "extension:100"}},
            "incoming": [
                {
                    "number": number,
                    "target": "ivr:main",
                    "hours": {"days": ["mon", "tue", "wed", "thu", "fri"], "open": "09:00", "close": "18:00"},
                    "after_hours": "voicemail:100",
                }
            ]
            if index % 2
            else [],
        }
        if not index % 2:
            orgs[org_id].pop("plan")
    return {
        "name": "bench",
        "trunks": {
            "carrier": {
                "proxy": "192.0.2.10",
                "username": "bench",
                "password": "bench-trunk-secret",
                "source_addresses": ["192.0.2.10/32"],
                "numbers": sorted(numbers),
            }
        },
        "numbers": numbers,
        "organizations": orgs,
        "esl": {"password": "bench-esl-secret"},
    }


def main() -> int:
    organizations = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    per_org = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    with tempfile.TemporaryDirectory() as directory:
        site_file = Path(directory) / "site.yml"
        site_file.write_text(yaml.safe_dump(site_data(organizations, per_org), allow_unicode=True, sort_keys=True), encoding="utf-8")

        started = time.perf_counter()
        site = load_site(site_file)
        loaded = time.perf_counter()
        files = render_site(site)
        rendered = time.perf_counter()
        replace_tree(Path(directory) / "freeswitch", files)
        written = time.perf_counter()

    extensions = sum(len(org.employees) for org in site.organizations.values())
    size = sum(len(content) for content in files.values())
    print(f"site: {len(site.organizations)} organizations, {extensions} extensions")
    print(f"load + validate: {loaded - started:.2f} s")
    print(f"render:          {rendered - loaded:.2f} s  ({len(files)} files, {size / 1e6:.1f} MB)")
    print(f"write tree:      {written - rendered:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
