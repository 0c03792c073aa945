"""The static mode of the load benches: the dialplan routing without the controller.

With the controller stopped, a call still parks, and its fallback runs when the switch's scheduler
next turns to the transfer the dialplan scheduled (within half a second): that detour is not what
a static run measures. So the benches send each call straight into its fallback twin instead, a
`transfer` where the dialplan parks, as the static dialplan did before calls were parked (the
controller's socket refused, on at once).
"""

from __future__ import annotations

import re

_PARKED = re.compile(r'<action application="sched_transfer" data="\+\S* ([^"]+)"/>\s*<action application="park"/>')


def straight_to_fallback(dialplan_xml: str) -> str:
    """A rendered dialplan file with each park replaced by the transfer it schedules, made at once."""
    straight, parks = _PARKED.subn(r'<action application="transfer" data="\1"/>', dialplan_xml)
    if not parks:
        raise ValueError("no parked call in this dialplan: it is not one bizpbx rendered")
    return straight
