"""What the controllers of several nodes share in a PostgreSQL ledger (migration 5).

`ActiveCalls`: the outbound calls in progress, a row per call with the node
handling it and when the row lapses. The node's heartbeat (`keep_alive`)
moves its rows on; the rows of a node that died lapse after `ttl` seconds
and stop counting, so they cannot hold an organization's limit forever.
`claim` counts and decides in one transaction under a per-organization
advisory lock, so two nodes deciding at once for one organization take turns:
with a limit of N, of N+1 simultaneous calls one is refused.

`Lease`: a job only one controller of the cluster does at a time (a
webhook's delivery loop, a CDR sweep): a row with its holder and when it
lapses. The holder renews it; another node takes it only once it lapsed.

Time is the database's clock (``clock_timestamp()``), one clock for every
node, so a node whose own clock is off cannot take a lease early.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import TypeVar

from bizpbx.ledger.database import immediate_transaction
from bizpbx.ledger.postgres import PostgresConnection

_NOW = "extract(epoch from clock_timestamp())"
STALE_LEASE_SECONDS = 86_400  # a lapsed lease's row (a CDR file long rotated away) is removed after this
_ORGANIZATION_LOCKS = 0x62697A_10 << 32  # per organization: this, plus a CRC of its ID

Decision = TypeVar("Decision")


class ActiveCalls:
    """The outbound calls in progress on every node, in the ledger's database."""

    def __init__(self, db: PostgresConnection, node: str, ttl: float = 60.0) -> None:
        self._db = db
        self.node = node
        self.ttl = ttl

    def claim(self, organization: str, call_uuid: str, decide: Callable[[int], Decision | None]) -> Decision | None:
        """Count the organization's live outbound calls on every node (this one
        too, if claimed before); `decide(calls)` says why not, or None, when the
        call is kept as in progress. In one transaction, one organization at a time."""
        with immediate_transaction(self._db):
            self._db.lock(_ORGANIZATION_LOCKS + zlib.crc32(organization.encode()))
            refusal = decide(self.in_progress(organization))
            if refusal is None:
                self._db.execute(
                    f"INSERT INTO active_calls (call_uuid, organization, node, expires_at) VALUES (?, ?, ?, {_NOW} + ?)"
                    " ON CONFLICT(call_uuid) DO UPDATE SET node = excluded.node, expires_at = excluded.expires_at",
                    (call_uuid, organization, self.node, self.ttl),
                )
            return refusal

    def release(self, call_uuid: str) -> None:
        """The call is over (or was never placed out)."""
        self._db.execute("DELETE FROM active_calls WHERE call_uuid = ?", (call_uuid,))

    def keep_alive(self) -> int:
        """This node's heartbeat: its rows live `ttl` more seconds, lapsed rows of any node go.
        Returns this node's calls in progress."""
        with immediate_transaction(self._db):
            self._db.execute(f"DELETE FROM active_calls WHERE expires_at <= {_NOW}")
            self._db.execute(f"DELETE FROM leases WHERE expires_at <= {_NOW} - ?", (STALE_LEASE_SECONDS,))
            return self._db.execute(f"UPDATE active_calls SET expires_at = {_NOW} + ? WHERE node = ?", (self.ttl, self.node)).rowcount

    def in_progress(self, organization: str) -> int:
        return self._db.execute(f"SELECT count(*) FROM active_calls WHERE organization = ? AND expires_at > {_NOW}", (organization,)).fetchone()[0]


class Lease:
    """One job's lease: held by one node at a time, renewed while it works."""

    def __init__(self, db: PostgresConnection, name: str, holder: str, ttl: float) -> None:
        self._db = db
        self.name = name
        self.holder = holder
        self.ttl = ttl

    def hold(self) -> bool:
        """Take the lease or renew it for `ttl` seconds from now; False while another node holds it."""
        row = self._db.execute(
            f"INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, {_NOW} + ?)"
            " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at"
            f" WHERE leases.holder = excluded.holder OR leases.expires_at <= {_NOW}"
            " RETURNING holder",
            (self.name, self.holder, self.ttl),
        ).fetchone()
        return row is not None

    def release(self) -> None:
        """Give the lease up (when stopping), so another node need not wait for it to lapse."""
        self._db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (self.name, self.holder))

    def holder_now(self) -> str | None:
        row = self._db.execute(f"SELECT holder FROM leases WHERE name = ? AND expires_at > {_NOW}", (self.name,)).fetchone()
        return row[0] if row else None
