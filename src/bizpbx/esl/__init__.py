"""FreeSWITCH's Event Socket: a sans-IO protocol core with an asyncio client and server.

- :mod:`bizpbx.esl.protocol`: bytes to frames and events (:class:`FrameParser`).
- :mod:`bizpbx.esl.commands`: the commands and their exact bytes.
- :mod:`bizpbx.esl.connection`: one connection's state, replies matched to commands.
- :mod:`bizpbx.esl.inbound`: :class:`InboundClient`, connects to FreeSWITCH.
- :mod:`bizpbx.esl.outbound`: :class:`OutboundServer`, serves the ``socket`` application.
"""

from bizpbx.esl import commands
from bizpbx.esl.commands import Command, CommandError
from bizpbx.esl.errors import (
    AuthenticationError,
    CommandFailed,
    ConnectionLost,
    ConnectionRejected,
    EslError,
    ProtocolError,
)
from bizpbx.esl.events import Event
from bizpbx.esl.inbound import InboundClient
from bizpbx.esl.outbound import OutboundServer, OutboundSession
from bizpbx.esl.protocol import Frame, FrameParser, decoded_form

__all__ = [
    "AuthenticationError",
    "Command",
    "CommandError",
    "CommandFailed",
    "ConnectionLost",
    "ConnectionRejected",
    "EslError",
    "Event",
    "Frame",
    "FrameParser",
    "InboundClient",
    "OutboundServer",
    "OutboundSession",
    "ProtocolError",
    "commands",
    "decoded_form",
]
