"""FreeSWITCH's Event Socket, sans-IO: bytes in, frames and events out; commands out as bytes.

Nothing here reads a socket, sleeps or logs, so it runs under any I/O
framework (or none). The asyncio client and server built on it are in
:mod:`bizpbx.esl.aio`; the guide is ``docs/esl.md``.

- :mod:`bizpbx.esl.protocol`: bytes to frames and events (:class:`FrameParser`).
- :mod:`bizpbx.esl.events`: :class:`Event`, decoded on first use.
- :mod:`bizpbx.esl.headers`: header blocks as FreeSWITCH writes them.
- :mod:`bizpbx.esl.commands`: the commands and their exact bytes.
- :mod:`bizpbx.esl.connection`: one connection's state, replies matched to commands.
- :mod:`bizpbx.esl.errors`: what goes wrong.
"""

from bizpbx.esl import commands
from bizpbx.esl.commands import Command, CommandError
from bizpbx.esl.connection import ApplicationCompleted, Connection, Happening, JobCompleted, Reply, Role, State
from bizpbx.esl.errors import (
    AuthenticationError,
    CommandFailed,
    ConnectionLost,
    ConnectionRejected,
    EslError,
    ProtocolError,
)
from bizpbx.esl.events import JSON, PLAIN, Event
from bizpbx.esl.headers import Headers, HeaderValue
from bizpbx.esl.protocol import (
    API_RESPONSE,
    AUTH_REQUEST,
    COMMAND_REPLY,
    DISCONNECT_NOTICE,
    LOG_DATA,
    RUDE_REJECTION,
    Frame,
    FrameParser,
    Received,
    decoded_form,
    encode,
)

__all__ = [
    "API_RESPONSE",
    "AUTH_REQUEST",
    "COMMAND_REPLY",
    "DISCONNECT_NOTICE",
    "JSON",
    "LOG_DATA",
    "PLAIN",
    "RUDE_REJECTION",
    "ApplicationCompleted",
    "AuthenticationError",
    "Command",
    "CommandError",
    "CommandFailed",
    "Connection",
    "ConnectionLost",
    "ConnectionRejected",
    "EslError",
    "Event",
    "Frame",
    "FrameParser",
    "Happening",
    "HeaderValue",
    "Headers",
    "JobCompleted",
    "ProtocolError",
    "Received",
    "Reply",
    "Role",
    "State",
    "commands",
    "decoded_form",
    "encode",
]
