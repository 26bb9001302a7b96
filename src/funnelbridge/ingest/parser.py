"""The parsing process of an events import (:func:`funnelbridge.ingest.pipeline.parsed_chunks` starts it):
``python -m funnelbridge.ingest.parser`` reads a pickled :class:`~funnelbridge.ingest.pipeline.Source` on its
standard input and writes the parsed chunks on its standard output. Nothing else imports this module."""

from __future__ import annotations

import os
import pickle
import sys

from funnelbridge.ingest.pipeline import Source, produce

__all__ = ["main"]


def main() -> None:
    source = pickle.load(sys.stdin.buffer)
    if not isinstance(source, Source):
        raise SystemExit("expected a pickled funnelbridge.ingest.pipeline.Source on standard input")
    try:
        produce(source, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    except BrokenPipeError:  # the importing process stopped reading: nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    main()
