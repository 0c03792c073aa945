"""The demo site and variations of it, for routing tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from bizpbx.settings import Site
from bizpbx.site_loader import load_site, model_from_data, read_yaml



@pytest.fixture
def lab_site(lab_site_copy: Path) -> Site:
    return load_site(lab_site_copy)


@pytest.fixture
def site_with(lab_site_copy: Path) -> Callable[[Callable[[dict], None]], Site]:
    """The demo site after `change(data)` edits its YAML data; with
    `checked=False` the cross-field rules are skipped (a site the loader
    would refuse, to show routing copes with it anyway)."""

    def build(change: Callable[[dict], None], checked: bool = True) -> Site:
        data = yaml.safe_load(lab_site_copy.read_text(encoding="utf-8"))
        change(data)
        variant = lab_site_copy.with_name("variant.yml")
        variant.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        if checked:
            return load_site(variant)
        return model_from_data(read_yaml(variant), variant)  # read_yaml gives digit keys as text

    return build
