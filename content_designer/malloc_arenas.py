"""Bound glibc's malloc arenas in the thread-per-request server.

glibc gives a thread that allocates while the others' arenas are busy an arena of its own, up
to 8 per core, and seldom returns their free memory to the system. ``qnabot serve`` answers
each request on a new thread, so the arenas fill with freed buffers (onnxruntime's, numpy's,
SQLite's) of threads that are gone: in ``make soak`` (10 minutes, 20 sessions, imports every
second) the server grew 3.8 MB a minute with the default and stayed flat (1.2 MB/min over the
second half, within the soak's noise) with two arenas. Two arenas cost no measurable
throughput there (56.6 against 53.4 requests/s, on a shared machine).

Example:
    >>> limit_malloc_arenas()  # doctest: +SKIP
    True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: glibc's ``M_ARENA_MAX`` parameter of ``mallopt`` (malloc.h).
M_ARENA_MAX = -8
#: Arenas the server may use: the main one and one shared by every request thread.
SERVER_ARENAS = 2


def limit_malloc_arenas(count: int = SERVER_ARENAS) -> bool:
    """Cap the process's malloc arenas at ``count`` (before threads start); True when done.

    A no-op returning False where the C library is not glibc (macOS, musl), which manage
    thread memory their own way.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt(M_ARENA_MAX, count) == 1
