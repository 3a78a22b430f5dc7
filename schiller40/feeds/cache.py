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

from ..core.bytecache import ByteCache, kept


def bodies() -> ByteCache | None:
    """This worker's kept feed bodies, or None when ``FEED_CACHE_MB`` is 0."""
    return kept("feeds")
