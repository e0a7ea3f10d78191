"""Python's cyclic garbage collector, set for a long-running server whose event loop must not pause.

Python runs a collection every 2,000 new container objects, and a full one (every object of the process)
every hundred of those. A worker relaying 500 running jobs parses thousands of progress messages a second:
in `make bench` it ran a full collection every ~5 s, each 120–250 ms with the whole event loop stopped, and
that pause was the relay's worst staleness (the web process likewise: 130–260 ms). Almost everything a full
collection walks was made at start-up (Django, the models, the libraries) and lives as long as the process.

So a server, once started, moves what it holds then out of the collector's sight (`gc.freeze()`): a full
collection walks only what was made since the start (40 ms instead of 220 at 500 jobs). Young objects are
collected after 10,000 new ones rather than 2,000, so full collections come five times less often.
"""

from __future__ import annotations

import gc

# New container objects between two young collections (Python's default: 2,000). Not much more: garbage in
# cycles (a response holding a downloaded image) then waits longer for a full collection; with 50,000 a
# worker peaked at 623 MiB in a spike bench run, against 423–440 MiB with 2,000 or 10,000.
YOUNG_COLLECTION_EVERY = 10_000


def settle_heap() -> None:
    """Call once the process has imported and set up what it serves with, just before it starts serving."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, old)
