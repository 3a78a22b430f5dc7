"""A byte-bounded, least-recently-used map from a key to bytes, one per worker process.

For answers kept under a key that already says everything they depend on (a feed's
fingerprint, an availability stamp): such an entry is never wrong, only unused, so the cache
needs no invalidation, just a bound on its memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator

from flask import Flask, current_app

# Which caches there are, and the setting that gives each its size in megabytes (0: off).
CACHES = {"feeds": "FEED_CACHE_MB", "availability": "AVAILABILITY_CACHE_MB"}


class ByteCache:
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
    for name, setting in CACHES.items():
        megabytes = app.config[setting]
        app.extensions[f"schiller40.kept.{name}"] = (
            ByteCache(megabytes * 1024 * 1024) if megabytes else None
        )


def kept(name: str) -> ByteCache | None:
    """This worker's cache ``name`` (see CACHES), or None when its setting is 0."""
    return current_app.extensions.get(f"schiller40.kept.{name}")
