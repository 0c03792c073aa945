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
