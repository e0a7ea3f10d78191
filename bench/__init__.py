"""`make bench`: the product's performance figures, measured on this machine in one run.

`python -m bench` starts real processes on loopback (emulated GPU backends, the web process,
the dispatcher, browser-like WebSocket clients), prints each figure next to its target and
writes the table with the machine's description to bench/RESULTS.md.
"""
