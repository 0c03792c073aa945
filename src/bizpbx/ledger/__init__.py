"""The call ledger (SQLite): rated calls stored exactly once, schema migrations."""

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
