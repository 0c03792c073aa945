"""The CDR a bizpbx switch writes: one definition for the renderer (the
`cdr_csv` template) and for the rating engine (the parser).

Only values FreeSWITCH produces itself or that bizpbx sets are written: no
free text such as caller names, which `mod_cdr_csv` substitutes raw and
unescaped and which could break a line. Times are epoch seconds, so a CDR
means the same whatever the server's time zone.
"""

from __future__ import annotations

# (column, channel variable). The `bizpbx_*` variables are set by the
# dialplan the renderer writes and by the controller.
CDR_COLUMNS: tuple[tuple[str, str], ...] = (
    ("uuid", "uuid"),
    ("organization", "bizpbx_org_id"),
    ("direction", "bizpbx_direction"),
    ("called_number", "bizpbx_called"),
    ("number_kind", "bizpbx_number_kind"),
    ("caller", "caller_id_number"),
    ("callee", "destination_number"),
    ("start_epoch", "start_epoch"),
    ("answer_epoch", "answer_epoch"),
    ("end_epoch", "end_epoch"),
    ("duration", "duration"),
    ("billsec", "billsec"),
    ("hangup_cause", "hangup_cause"),
    ("trunk", "bizpbx_trunk"),
)

CDR_TEMPLATE_NAME = "bizpbx"


def cdr_csv_template() -> str:
    """The `mod_cdr_csv` template line for CDR_COLUMNS."""
    return ",".join(f'"${{{variable}}}"' for _, variable in CDR_COLUMNS)
