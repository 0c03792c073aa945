"""The Event Socket over asyncio: a client for FreeSWITCH's event socket and a server for its ``socket`` application.

- :class:`InboundClient` connects to FreeSWITCH (inbound ESL), reconnects and subscribes again by itself.
- :class:`OutboundServer` serves calls that FreeSWITCH's ``socket`` application hands over (outbound ESL);
  each call is an :class:`OutboundSession`.

Both drive the sans-IO core of :mod:`bizpbx.esl`; the guide is ``docs/esl.md``.
"""

from bizpbx.esl.aio.inbound import InboundClient
from bizpbx.esl.aio.outbound import Handler, OutboundServer, OutboundSession

__all__ = ["Handler", "InboundClient", "OutboundServer", "OutboundSession"]
