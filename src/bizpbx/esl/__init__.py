"""FreeSWITCH's Event Socket: a sans-IO protocol core with an asyncio client and server.

- :mod:`bizpbx.esl.protocol`: bytes to frames and events (:class:`FrameParser`).
- :mod:`bizpbx.esl.commands`: the commands and their exact bytes.
- :mod:`bizpbx.esl.connection`: one connection's state, replies matched to commands.
- :mod:`bizpbx.esl.inbound`: :class:`InboundClient`, connects to FreeSWITCH.
- :mod:`bizpbx.esl.outbound`: :class:`OutboundServer`, serves the ``socket`` application.
"""
