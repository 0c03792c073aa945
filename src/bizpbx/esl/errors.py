"""The one error type of the Event Socket decoder."""

from __future__ import annotations


class ProtocolError(Exception):
    """Bytes that are not a valid Event Socket stream.

    ``offset`` is the byte offset in the stream of the frame (or byte) that is
    wrong, so a user can find it with ``bizpbx esl-dump`` or a hex viewer.
    """

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at byte {offset})")
        self.offset = offset


class EslError(Exception):
    """A session-level failure of the asyncio client or server."""


class ConnectionRejected(EslError):
    """FreeSWITCH refused the connection before authentication (its ACL: ``text/rude-rejection``)."""


class AuthenticationError(EslError):
    """FreeSWITCH refused the password."""


class ConnectionLost(EslError):
    """The connection closed before the answer came."""


class CommandFailed(EslError):
    """FreeSWITCH answered a command with ``-ERR``."""
