"""The CDR a bizpbx switch writes: one definition for the renderer (the
`cdr_csv` template) and for the rating engine (the parser).

Only values FreeSWITCH produces itself or that bizpbx sets are written: no
free text such as caller names. `mod_cdr_csv` substitutes values raw, so the
two a caller controls (the caller ID and the dialed number: a `"` or a
newline in either would break the line) are written percent-encoded by the
switch's `url_encode` API and decoded by the parser. Times are epoch
seconds, so a CDR means the same whatever the server's time zone.
"""

from __future__ import annotations

from bizpbx.fs_vocabulary import Var

# (column, channel variable). The `bizpbx_*` variables are set by the
# dialplan the renderer writes and by the controller.
CDR_COLUMNS: tuple[tuple[str, str], ...] = (
    ("uuid", "uuid"),
    ("organization", Var.ORG_ID),
    ("direction", Var.DIRECTION),
    ("called_number", Var.CALLED),
    ("number_kind", Var.NUMBER_KIND),
    ("caller", "caller_id_number"),
    ("callee", "destination_number"),
    ("start_epoch", "start_epoch"),
    ("answer_epoch", "answer_epoch"),
    ("end_epoch", "end_epoch"),
    ("duration", "duration"),
    ("billsec", "billsec"),
    ("hangup_cause", "hangup_cause"),
    ("trunk", Var.TRUNK),
    # Added later, so at the end: a line written before them is the columns above.
    ("bridge_epoch", "bridge_epoch"),  # when a person (or the outside party) answered; 0: nobody did
    ("answered_by", Var.ANSWERED_BY),  # that person, as a target (extension:101, number:+7...)
    ("voicemail", Var.VOICEMAIL),  # the box the call ended in, if it did
    ("recording", Var.RECORDING),  # the file the switch recorded the call into, if it did
)
# The column counts of lines written before the later columns existed (read with those empty).
EARLIER_COLUMN_COUNTS = (14, 17)

# Variables whose value the caller chooses; written percent-encoded.
CALLER_CONTROLLED = frozenset({"caller_id_number", "destination_number"})
ENCODED_COLUMNS = frozenset(column for column, variable in CDR_COLUMNS if variable in CALLER_CONTROLLED)

CDR_TEMPLATE_NAME = "bizpbx"


def column_expression(variable: str) -> str:
    """How the template writes one variable (FreeSWITCH's `${api(arg)}` expansion for encoded ones)."""
    return f"${{url_encode(${{{variable}}})}}" if variable in CALLER_CONTROLLED else f"${{{variable}}}"


def cdr_csv_template() -> str:
    """The `mod_cdr_csv` template line for CDR_COLUMNS."""
    return ",".join(f'"{column_expression(variable)}"' for _, variable in CDR_COLUMNS)
