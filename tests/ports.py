"""Ports for the programs a test, a chaos run or a benchmark starts (servers,
stages, receivers): one locked block per run, shared by tests/integration
(conftest.py) and tests/chaos/system.py.

    from ports import free_port, free_ports
"""
import fcntl
import os
import socket
import tempfile
import threading
from pathlib import Path

# Asking the kernel for a free port
# (bind port 0, close, hand the number on) races: the program binds it
# later, and meanwhile the kernel can give the same number to the next
# bind(0) (ingest and scrape of one pipeline were handed one port) or to an
# outgoing connection. So ports come from below the kernel's ephemeral range
# (32768+), which neither ever uses, and clear of the brokers (19xxx,
# 29192, 29592+) and port 20000: each pytest run locks one block of them
# (flock, released when the run ends, even by a crash) and hands its ports
# out in turn, so two runs side by side never share a port and one run reuses
# a port only a whole block of ports later, long after its test ended.
PORT_FIRST, PORT_LAST, PORT_BLOCK = 21000, 28999, 100
PORT_LOCKS = Path(tempfile.gettempdir()) / "ferry-test-ports"
_ports = {"block": None, "lock": None, "next": 0}
_ports_mutex = threading.Lock()


def _port_block():
    """Locks a free block for this run; its first port, or None when every
    block is taken."""
    try:
        PORT_LOCKS.mkdir(exist_ok=True)
    except OSError:
        return None
    blocks = list(range(PORT_FIRST, PORT_LAST + 1 - PORT_BLOCK + 1, PORT_BLOCK))
    start = os.getpid() % len(blocks)  # runs side by side try different blocks first
    for first in blocks[start:] + blocks[:start]:
        try:
            f = open(PORT_LOCKS / f"{first}.lock", "a")
        except OSError:
            continue
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        _ports["lock"] = f  # held (open) until the run ends
        return first
    return None


def _bindable(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_ports(n):
    """The first of n consecutive ports (a broker takes its port and the
    next) that no other program of this run or of another run of these
    tests is using or has been handed; free now (something outside the
    tests that holds one is skipped)."""
    with _ports_mutex:
        if _ports["block"] is None:
            _ports["block"] = _port_block() or 0
        first = _ports["block"]
        for _ in range(PORT_BLOCK if first else 0):
            if _ports["next"] + n > PORT_BLOCK:
                _ports["next"] = 0
            port = first + _ports["next"]
            _ports["next"] = (_ports["next"] + 1) % PORT_BLOCK
            if all(_bindable(port + i) for i in range(n)):
                _ports["next"] = (port + n - first) % PORT_BLOCK
                return port
    # Every block taken (or all of ours busy): the kernel's choice, racy.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port():
    """One port, as free_ports(1)."""
    return free_ports(1)
