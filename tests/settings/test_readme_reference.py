"""The README's site reference keeps up with the model."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from bizpbx.settings import Site

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def models_in(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models_in(arg)]


def every_field(model: type[BaseModel], seen: set[type]) -> list[tuple[str, str]]:
    if model in seen:
        return []
    seen.add(model)
    fields = []
    for name, info in model.model_fields.items():
        fields.append((model.__name__, name))
        for inner in models_in(info.annotation):
            fields.extend(every_field(inner, seen))
    return fields


def test_every_setting_is_in_the_readme():
    undocumented = [
        f"{owner}.{name}"
        for owner, name in every_field(Site, set())
        if not re.search(rf"`[^`\n]*\b{re.escape(name)}\b[^`\n]*`", README)
    ]
    assert undocumented == []
