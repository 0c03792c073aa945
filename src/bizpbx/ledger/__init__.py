"""The ledger, one SQLite file or one PostgreSQL database (`postgres`): rated
calls stored exactly once (`store`), the schema and its migrations, the
controller's tables included (`migrations`), the connection settings every
writer shares (`database`), and what controllers on several nodes share
(`cluster`)."""

from bizpbx.ledger.database import connect, immediate_transaction, insert_once
from bizpbx.ledger.migrations import MIGRATIONS, LedgerVersionError, Migration, migrate
from bizpbx.ledger.store import Ledger, ListedCall, RatedCall, StoredCall

__all__ = [
    "MIGRATIONS",
    "Ledger",
    "LedgerVersionError",
    "ListedCall",
    "Migration",
    "RatedCall",
    "StoredCall",
    "connect",
    "immediate_transaction",
    "insert_once",
    "migrate",
]
