"""Rendered feed bodies kept in the worker's memory, keyed by what makes them what they are.

Calendar apps fetch a subscribed feed every few minutes to hours, and many of them (Google's
fetcher, several Android apps) ignore the ETag and ask for the whole body each time. Building
a 2,000-event feed takes tens of milliseconds of a worker; sending a kept copy takes one.

The key is the feed's fingerprint (``queries.fingerprint``: its ETag, which changes with
every booking, hold or payment change the feed shows, with the catalogue of resource and
location names, with the locale and with the day the window moves) and the public address
the links in it point to. Whatever the feed would show differently gives a different key, so
a kept body is never stale; an entry that is no longer asked for simply ages out. What the
fingerprint does not see (the names of other members, which only staff feeds show) is why
staff feeds are not kept.

Each worker keeps its own copies, at most ``FEED_CACHE_MB`` megabytes, least recently used
out first. Nothing is shared between workers or servers, so there is nothing to invalidate.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator

from flask import Flask, current_app

KEY = "schiller40.feed_bodies"


class BodyCache:
    """A byte-bounded LRU map from key to body, safe for gunicorn's threaded workers."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            body = self._entries.get(key)
            if body is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        if len(body) > self.max_bytes:  # would push out everything else and still not fit
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.size -= len(old)
            self._entries[key] = body
            self.size += len(body)
            while self.size > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self.size -= len(dropped)

    def filling(self, key: Hashable, pieces: Iterable[bytes]) -> Iterator[bytes]:
        """Pass the pieces on as they are made and keep the whole body once the last one is
        out. A response cut short (the client went away) keeps nothing."""
        kept: list[bytes] = []
        for piece in pieces:
            kept.append(piece)
            yield piece
        self.put(key, b"".join(kept))


def init_app(app: Flask) -> None:
    megabytes = app.config["FEED_CACHE_MB"]
    app.extensions[KEY] = BodyCache(megabytes * 1024 * 1024) if megabytes else None


def bodies() -> BodyCache | None:
    """This worker's cache, or None when ``FEED_CACHE_MB`` is 0."""
    return current_app.extensions.get(KEY)
