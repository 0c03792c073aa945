"""The outbound calls in progress per organization, for the toll-fraud guard's concurrency limit.

With the SQLite ledger the controller is alone: they are counted in memory
(`LocalOutboundCalls`). With PostgreSQL, controllers on several nodes count
them together in the database (`bizpbx.ledger.cluster.ActiveCalls`, the
same methods). Either way `claim` asks the pure decision
(`bizpbx.controller.guard.check_outbound`) with the count and keeps the call
only when it may go.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

Decision = TypeVar("Decision")


class OutboundCalls(Protocol):
    def claim(self, organization: str, call_uuid: str, decide: Callable[[int], Decision | None]) -> Decision | None: ...

    def release(self, call_uuid: str) -> None: ...

    def in_progress(self, organization: str) -> int: ...


class LocalOutboundCalls:
    """This process's outbound calls in progress."""

    def __init__(self) -> None:
        self._organization_of: dict[str, str] = {}  # call UUID -> the organization it is placed out for

    def claim(self, organization: str, call_uuid: str, decide: Callable[[int], Decision | None]) -> Decision | None:
        refusal = decide(self.in_progress(organization))
        if refusal is None:
            self._organization_of[call_uuid] = organization
        return refusal

    def release(self, call_uuid: str) -> None:
        self._organization_of.pop(call_uuid, None)

    def in_progress(self, organization: str) -> int:
        return sum(1 for org in self._organization_of.values() if org == organization)
