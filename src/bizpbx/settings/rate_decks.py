"""Rate decks: a trunk's outbound prices per prefix, as the model holds them.

The model reads no file. The site loader reads every deck a site names
(`bizpbx.rate_deck_csv`) and hands the result over in `READ_DECKS`, keyed by
the deck's resolved path; a trunk's ``rate_deck`` path (from the file or the
environment) is looked up there, and a deck that could not be read is
reported at that field with the loader's reason (file and line).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer

from bizpbx.settings.fields import Model, Money, resolve_site_path
from bizpbx.settings.tariffs import Increments


class RateRow(Model):
    prefix: str
    rate: Money = Field(description="price per minute")
    increments: Increments = Increments()
    connect_fee: Money = Decimal(0)
    description: str = ""
    line: int = Field(0, description="line of the CSV file it came from")


@dataclass(frozen=True)
class RateDeck:
    """An outbound rate deck: the CSV file it was read from and its rows, one per prefix."""

    path: Path
    rows: tuple[RateRow, ...]

    def __str__(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class UnreadableDeck:
    """Why the loader could not read a deck, naming the file and line."""

    reason: str


READ_DECKS: ContextVar[Mapping[Path, RateDeck | UnreadableDeck]] = ContextVar("READ_DECKS", default=MappingProxyType({}))


def deck_path(value: Any) -> Path:
    """The file a trunk's rate_deck names, relative paths taken from the site file's directory."""
    if not isinstance(value, (str, Path)):
        raise ValueError("a path to a CSV rate deck is expected")
    return resolve_site_path(Path(value))


def _read_deck(value: Any) -> RateDeck:
    if isinstance(value, RateDeck):
        return value
    path = deck_path(value)
    deck = READ_DECKS.get().get(path)
    if deck is None:
        raise ValueError(f"rate deck {path} was not read: a site is read with bizpbx.site_loader, which reads its decks")
    if isinstance(deck, UnreadableDeck):
        raise ValueError(deck.reason)
    return deck


RateDeckFile = Annotated[RateDeck, BeforeValidator(_read_deck), PlainSerializer(str)]
