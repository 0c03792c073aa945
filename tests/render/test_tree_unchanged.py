"""Sites that do not use phones over TLS (nor a cluster: inventory/example, the lab
without its TLS, a minimal site) render byte for byte as recorded: the digests in
recorded/trees.json were taken from the renderer of commit 7b968ac (secret values masked,
as they are generated anew each time), then recorded again for the site's language (default
ru: mod_say_ru, the ru phrases, default_language and the ru/RU/elena voice), when both SIP
profiles gained rtp-timer-name (media paced by a timer), when the main number's ID entry kept
room for its pound, when the lab site came to record organization 34's calls from outside,
when the CDR gained its billed_from column (a transferred client's leg), and when the dialplan
came to set continue_on_fail before the socket (the controller's multiset saved), when
it came to hand the controller its variables in one multiset instead of a set each, and when
the legs of a ring came to offer the call for pickup themselves (api_on_originate, not a `hash`
application before the bridge), when the switch's globals came to hold RECORD_PRE_BUFFER_FRAMES=1
(the default pre-buffer lost the notice from the recording; once per site, not a `set` per call),
and when calls came to be parked for the controller (its fallback scheduled, the static fallback
in each context's `-fallback` twin) instead of handed to its socket, and when that fallback came
to wait only as long as the controller says it is there (a global it sets, not 10 s written in).

When a change to a non-TLS tree is intended, record the trees again with
`python tests/render/test_tree_unchanged.py > tests/render/recorded/trees.json`
and say why in the commit."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bizpbx.render import render_site
from bizpbx.render.renderer import mask_secrets
from bizpbx.site_loader import load_site

REPO = Path(__file__).resolve().parents[2]
RECORDED = Path(__file__).resolve().parent / "recorded" / "trees.json"
SECRETS = {
    "BIZPBX_ESL__PASSWORD": "test-esl-secret-1",
    "BIZPBX_TRUNKS__CARRIER__PASSWORD": "test-carrier-secret",
    "BIZPBX_CONTROLLER__API__CLIENTS__CRM__TOKEN": "test-crm-token-of-32-characters-or-more",
}
LAB_TLS = "  tls: {enabled: true}\n"  # the lab's phones over TLS, taken out: the lab as a site without TLS
# A site with nothing but what it must have: one IP-authenticated trunk.
MINIMAL_SITE = """\
trunks:
  carrier: {proxy: 192.0.2.10, auth: ip, source_addresses: [192.0.2.10/32]}
"""


def tree_digests(site_file: Path) -> dict[str, str]:
    files = render_site(load_site(site_file, generate_missing_secrets=True))
    return {path: hashlib.sha256(mask_secrets(text.decode(), text.decode())[0].encode()).hexdigest() for path, text in sorted(files.items())}


def every_tree(work: Path) -> dict[str, dict[str, str]]:
    lab = work / "lab"
    shutil.copytree(REPO / "inventory" / "lab", lab, ignore=shutil.ignore_patterns("site.secrets.yml", "group_vars", "hosts.yml"))
    site = (lab / "site.yml").read_text(encoding="utf-8")
    assert LAB_TLS in site, "the lab site's TLS setting moved: update LAB_TLS"
    (lab / "site.yml").write_text(site.replace(LAB_TLS, ""), encoding="utf-8")
    example = work / "example"
    example.mkdir()
    shutil.copy(REPO / "inventory" / "example" / "site.yml", example / "site.yml")
    minimal = work / "minimal"
    minimal.mkdir()
    (minimal / "site.yml").write_text(MINIMAL_SITE, encoding="utf-8")
    return {"lab": tree_digests(lab / "site.yml"), "example": tree_digests(example / "site.yml"), "minimal": tree_digests(minimal / "site.yml")}


def test_sites_without_tls_render_as_recorded(tmp_path: Path, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    now = every_tree(tmp_path)
    changed = {
        f"{site}: {path}"
        for site in recorded.keys() | now.keys()
        for path in recorded.get(site, {}).keys() | now.get(site, {}).keys()
        if recorded.get(site, {}).get(path) != now.get(site, {}).get(path)
    }
    assert sorted(changed) == []


if __name__ == "__main__":
    os.environ.update(SECRETS)
    with tempfile.TemporaryDirectory() as work:
        json.dump(every_tree(Path(work)), sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
