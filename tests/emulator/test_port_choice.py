"""The embedded emulator takes a free port when EMULATOR_PORT is busy, and says so in one line."""

from __future__ import annotations

import logging
import socket

from comfyweb.emulator.ports import choose_emulator_port, port_is_free


def _listening(host: str = "127.0.0.1") -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((host, 0))
    server.listen()
    return server


def test_a_free_preferred_port_is_kept_without_a_word(caplog):
    probe = _listening()
    port = probe.getsockname()[1]
    probe.close()
    with caplog.at_level(logging.INFO, logger="comfyweb.emulator"):
        assert choose_emulator_port("127.0.0.1", port) == port
    assert not caplog.records


def test_a_busy_port_gives_a_free_one_and_one_line_naming_emulator_port(caplog):
    with _listening() as busy:
        taken = busy.getsockname()[1]
        assert not port_is_free("127.0.0.1", taken)
        with caplog.at_level(logging.INFO, logger="comfyweb.emulator"):
            chosen = choose_emulator_port("127.0.0.1", taken)
        assert chosen != taken
        assert port_is_free("127.0.0.1", chosen)
    [record] = caplog.records
    message = record.getMessage()
    assert "EMULATOR_PORT" in message and str(taken) in message and str(chosen) in message
    assert "\n" not in message


def test_port_zero_means_any_port():
    assert choose_emulator_port("127.0.0.1", 0) > 0
