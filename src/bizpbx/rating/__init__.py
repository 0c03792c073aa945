"""Rating: what calls cost under the site's tariffs, and monthly accounts.

Pure functions over plain data; reading CDRs and storing calls is elsewhere
(`bizpbx.rating.cdr_input`, `bizpbx.ledger`).
"""

from bizpbx.rating.deck import Price, PrefixIndex
from bizpbx.rating.rate import CallRecord, Direction, Rater, Rating, RatingOutcome, Rule

__all__ = ["CallRecord", "Direction", "Price", "PrefixIndex", "Rater", "Rating", "RatingOutcome", "Rule"]
