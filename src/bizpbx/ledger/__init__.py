"""The ledger, one SQLite file: rated calls stored exactly once (`store`), the
schema and its migrations, the controller's tables included (`migrations`),
and the connection settings every writer of the file shares (`database`)."""

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
