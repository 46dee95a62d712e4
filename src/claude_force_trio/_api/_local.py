"""Failures this machine caused, told apart from the server's (issue 9, item 6a).

A client out of file descriptors, socket buffers or local ports, or whose
event loop is too busy to notice a connection completing, has learnt nothing
about the server. :func:`local_failure` recognises such failures at the edge,
from the httpx error's chain (the OS error number survives in it), so the
client raises :class:`LocalResourceError` and the circuit breaker never counts
them.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

import httpx

from .._errors import LocalResourceError, LocalTimeoutError

__all__ = ["LOCAL_ERRNOS", "StalledConnect", "local_failure"]

#: Connect failures that mean *this machine* ran short, not that the server is ill:
#: no file descriptors (EMFILE, ENFILE), no socket buffers or memory (ENOBUFS,
#: ENOMEM), no free local port (EADDRNOTAVAIL, EADDRINUSE, and EAGAIN, which is
#: what a TCP connect returns on Linux when the ephemeral ports run out).
LOCAL_ERRNOS = frozenset(
    {
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOBUFS,
        errno.ENOMEM,
        errno.EADDRNOTAVAIL,
        errno.EADDRINUSE,
        errno.EAGAIN,
    }
)


class StalledConnect(httpx.ConnectTimeout):
    """A connect timeout this process caused: to loopback, or while its loop was busy."""


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps: causes, contexts, group members, exception args."""
    todo = [exc]
    seen: set[int] = set()
    while todo and len(seen) < 64:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        todo.extend(arg for arg in current.args if isinstance(arg, BaseException))
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)


def local_failure(exc: BaseException) -> LocalResourceError | None:
    """The local error that ``exc`` (an httpx failure to send) really is, or ``None``.

    Local means this machine caused it, so it says nothing of the server's
    health: an ``OSError`` anywhere in the chain with an errno in
    :data:`LOCAL_ERRNOS`; a pool timeout (waiting for our own connections); a
    connect timeout to loopback or while our loop was busy (see the pool).
    """
    if isinstance(exc, StalledConnect):
        return LocalTimeoutError(f"connect timed out while this machine was busy: {exc}")
    if isinstance(exc, httpx.PoolTimeout):
        return LocalTimeoutError(f"timed out waiting for a free connection: {exc}")
    if not isinstance(exc, httpx.ConnectError | httpx.WriteError | httpx.NetworkError):
        return None
    for cause in _causes(exc):
        if isinstance(cause, OSError) and cause.errno in LOCAL_ERRNOS:
            name = errno.errorcode.get(cause.errno, str(cause.errno))
            return LocalResourceError(
                f"this machine is short of resources ({name}: {cause.strerror})", errno=cause.errno
            )
    return None
