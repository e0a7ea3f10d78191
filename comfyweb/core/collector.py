"""Python's cyclic garbage collector, set for a long-running server whose event loop must not pause.

A full collection walks every object the process holds. A worker relaying 500 running jobs makes garbage
fast enough for one every ~5 s: in `make bench` each took 120–250 ms with the whole event loop stopped, and
those pauses were the relay's worst staleness (the web process likewise: 130–260 ms). Almost everything
such a collection walked was made at start-up (Django, the models, the libraries: ~300,000 objects) and
lives as long as the process.

So a server, once started, moves what it holds then out of the collector's sight (`gc.freeze()`): a full
collection walks only what was made since the start (35–45 ms at 500 jobs). The collection thresholds
stay Python's own: collecting less often would keep garbage in reference cycles longer, and some of it is
large (a submitted form holds its decoded photos).
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Call once the process has imported and set up what it serves with, just before it starts serving."""
    gc.collect()
    gc.freeze()
