"""`bizpbx esl-dump FILE`: decode a raw Event Socket byte stream into JSON lines."""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import sys
import zlib
from collections.abc import Iterator
from typing import BinaryIO, TextIO

from bizpbx.esl.errors import ProtocolError
from bizpbx.esl.protocol import FrameParser, Received, decoded_form

CHUNK_SIZE = 65536
_GZIP_MAGIC = b"\x1f\x8b"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "esl-dump",
        help="decode what FreeSWITCH sent on an event socket into JSON lines",
        description=(
            "Decode a raw Event Socket byte stream (what FreeSWITCH sent) into one JSON object a frame: "
            '{"type": ..., "headers": {...}, "body": ...}; for events, the event\'s own headers and body.'
        ),
    )
    parser.add_argument("file", metavar="FILE", help="the byte stream; '-' for standard input; gzip is recognised")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        with contextlib.ExitStack() as stack:
            dump(_open(args.file, stack), sys.stdout)
    except BrokenPipeError:
        raise  # the reader went away: the CLI's own business
    except (ProtocolError, OSError, EOFError) as error:  # EOFError: a truncated gzip file
        print(f"bizpbx esl-dump: {args.file}: {error}", file=sys.stderr)
        return 1
    except zlib.error as error:  # gzip's magic bytes, then data that does not inflate
        print(f"bizpbx esl-dump: {args.file}: not a readable gzip file: {error}", file=sys.stderr)
        return 1
    return 0


def dump(stream: BinaryIO, out: TextIO) -> None:
    """Write one JSON line per frame as it is decoded.

    A malformed stream raises ProtocolError once the frames before the bad
    byte are written: they are what a user debugging the stream needs.
    """
    for item in _decode(stream):
        out.write(json.dumps(decoded_form(item), ensure_ascii=False) + "\n")


def _decode(stream: BinaryIO) -> Iterator[Received]:
    parser = FrameParser()
    while chunk := stream.read(CHUNK_SIZE):
        yield from parser.feed(chunk)
    parser.end_of_stream()


def _open(path: str, stack: contextlib.ExitStack) -> BinaryIO:
    """The file (or standard input), gunzipped when it starts with gzip's magic bytes."""
    raw = sys.stdin.buffer if path == "-" else stack.enter_context(open(path, "rb"))
    if raw.peek(len(_GZIP_MAGIC)).startswith(_GZIP_MAGIC):
        return stack.enter_context(gzip.GzipFile(fileobj=raw))
    return raw
