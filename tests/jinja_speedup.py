"""Share compiled Jinja templates across the many apps the suite creates.

Every test gets a fresh app (see werkzeug_speedup.py), and with it a fresh Jinja environment
whose template cache starts empty: each test compiled every template it rendered again
(parse, generate Python source, ``compile``), some 25 ms per page and about a sixth of the
run time of a view-heavy test file. Jinja's supported hook for this is a bytecode cache;
this one lives in memory for the test process. Jinja keys it by template name and checks a
checksum of the template's source, so an edited template is compiled afresh, and every app
of the suite uses the same Jinja settings. Test-only: production builds one app per process,
which compiles each template once.

Measured (issue 18) on ``tests/booking tests/staff`` (1053 tests, both databases,
``CI=true -p no:cacheprovider -n 2``), with and without this cache, the runs interleaved:
CPU time of pytest and its workers 85 to 99 s with it (five runs, mean 92 s) and 114 to 121 s
without (four runs, mean 117 s): 27 % more. Wall time on the shared machine (2 cores) swung
with the others' load, 50 to 250 s for the same run; no run without it took less than 137 s,
the quietest with it 50 and 53 s. Kept.
"""

from __future__ import annotations

from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class MemoryBytecodeCache(BytecodeCache):
    """Compiled templates (marshalled code objects) by Jinja's bucket key."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)  # ignored if the source changed since

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()

    def clear(self) -> None:
        self._code.clear()


def install() -> None:
    # Flask builds each app's environment from the class-level options (an app may still
    # set its own ``jinja_options``, which would then win).
    Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": MemoryBytecodeCache()}
