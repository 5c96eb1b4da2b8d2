"""The server keeps its request threads' memory in two malloc arenas (glibc)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: 16 threads allocating at once, then glibc's own report: one "Arena N:" line per arena.
PROBE = textwrap.dedent("""
    import ctypes, sys, threading
    from content_designer.malloc_arenas import limit_malloc_arenas
    if sys.argv[1] == "limit":
        assert limit_malloc_arenas()
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = (ctypes.c_void_p,)
    together = threading.Barrier(16)
    def work():
        together.wait()
        for _ in range(2000):
            for block in [libc.malloc(4096) for _ in range(20)]:
                libc.free(block)
    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    libc.malloc_stats()
""")


def arenas(mode: str) -> int:
    result = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=REPO, capture_output=True,
                            text=True, timeout=60, check=True)
    return sum(line.startswith("Arena ") for line in result.stderr.splitlines())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_request_threads_share_two_arenas_instead_of_one_each() -> None:
    unlimited = arenas("default")
    if unlimited <= 2:
        pytest.skip(f"this C library made {unlimited} arenas for 16 threads anyway")

    assert arenas("limit") == 2

