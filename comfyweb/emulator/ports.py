"""Which port the embedded emulator listens on: the configured one, or any free one when it is taken.

`make run` starts the emulator on EMULATOR_PORT (8188 by default), the port a real ComfyUI usually holds
on the same machine. Rather than dying with a traceback, the embedded topology takes a free port and
says so in one line that names EMULATOR_PORT (the web app is told the real URL, nobody else needs it).
"""

from __future__ import annotations

import errno
import logging
import socket

logger = logging.getLogger("comfyweb.emulator")


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now (bound and released at once, SO_REUSEADDR as aiohttp)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def choose_emulator_port(host: str, preferred: int) -> int:
    """`preferred` when it is free on `host`, else a free port, with one log line naming EMULATOR_PORT."""
    if not preferred:
        return free_port(host)  # 0: any port was asked for
    if port_is_free(host, preferred):
        return preferred
    chosen = free_port(host)
    logger.warning(
        "Port %s on %s is busy (a ComfyUI?): the emulator uses port %s instead. "
        "Set EMULATOR_PORT to choose another one.",
        preferred,
        host,
        chosen,
    )
    return chosen
