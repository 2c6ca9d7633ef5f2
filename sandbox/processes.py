"""Ports and processes of the sandbox: free loopback ports, clean stops, timed kills."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence

KILL_DEADLINE = 120.0
"""Seconds a process may take to reach the point where it is to be killed."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it when it does not end within 10 s."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def kill_when(command: Sequence[str], env: Mapping[str, str],
              condition: Callable[[], bool], *, deadline: float = KILL_DEADLINE) -> bool:
    """Start ``command`` in its own process group and SIGKILL it once ``condition()`` holds.

    :returns: True when the condition held before the process ended or the deadline
        passed (the kill came at the moment asked for), False otherwise.
    """
    process = subprocess.Popen(list(command), env=dict(env), start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + deadline
    reached = False
    try:
        while time.monotonic() < end and process.poll() is None:
            if condition():
                reached = True
                break
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    return reached
