"""Loading the captures: FreeSWITCH's bytes, what the client sent, the frames they decode to."""

from __future__ import annotations

import functools
import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CAPTURES_DIR = REPO.parent / "shared" / "esl-captures"
_FS_SUFFIX = ".fs.bin"


def capture_names() -> list[str]:
    return sorted({path.name.split(_FS_SUFFIX)[0] for path in CAPTURES_DIR.glob(f"*{_FS_SUFFIX}*")})


def _read(path: Path) -> bytes:
    """The file, or its .gz sibling uncompressed."""
    if path.exists():
        return path.read_bytes()
    return gzip.decompress(path.with_name(path.name + ".gz").read_bytes())


@dataclass(frozen=True)
class Capture:
    name: str
    fs_bytes: bytes
    frames_text: str  # the .frames.jsonl as it is
    client_sent: tuple[bytes, ...]

    @classmethod
    @functools.cache
    def load(cls, name: str) -> Capture:
        client_path = CAPTURES_DIR / f"{name}.client.jsonl"
        client_lines = client_path.read_text().splitlines() if client_path.exists() else []
        return cls(
            name,
            _read(CAPTURES_DIR / f"{name}{_FS_SUFFIX}"),
            _read(CAPTURES_DIR / f"{name}.frames.jsonl").decode(),
            tuple(json.loads(line)["sent"].encode() for line in client_lines),
        )

    @property
    def size(self) -> int:
        return len(self.fs_bytes)

    @functools.cached_property
    def frames(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.frames_text.splitlines()]

    @property
    def fs_path(self) -> Path:
        path = CAPTURES_DIR / f"{self.name}{_FS_SUFFIX}"
        return path if path.exists() else path.with_name(path.name + ".gz")

    def frames_of_type(self, content_type: str) -> list[dict[str, Any]]:
        return [frame for frame in self.frames if frame["type"] == content_type]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [frame for frame in self.frames if frame["type"].startswith("text/event-")]
