"""Method `source` builds every module the rendered configuration loads (issue 11): a module missing
from the build's modules.conf makes the switch log an error at each start and lose what it does."""

from __future__ import annotations

from pathlib import Path

import yaml

from bizpbx.render.renderer import modules_for
from bizpbx.settings import Site

REPO = Path(__file__).resolve().parents[2]


def built_modules() -> set[str]:
    defaults = yaml.safe_load((REPO / "roles/freeswitch/defaults/main.yml").read_text(encoding="utf-8"))
    return {path.rsplit("/", 1)[-1] for path in defaults["freeswitch__source_modules"]}


def test_the_source_build_has_every_module_a_russian_or_english_site_loads(lab_site: Site) -> None:
    for language in ("ru", "en"):
        site = lab_site.model_copy(update={"language": language})
        missing = set(modules_for(site)) - built_modules()
        assert not missing, f"language {language}: freeswitch__source_modules lacks {sorted(missing)}"


def test_the_build_has_mod_say_ru() -> None:
    assert "mod_say_ru" in built_modules()
