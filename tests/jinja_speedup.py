"""Share compiled Jinja templates across the many apps the suite creates.

Every test gets a fresh app (see werkzeug_speedup.py), and with it a fresh Jinja environment
whose template cache starts empty: each test compiled every template it rendered again
(parse, generate Python source, ``compile``), some 25 ms per page and about a sixth of the
run time of a view-heavy test file. Jinja's supported hook for this is a bytecode cache;
this one lives in memory for the test process. Jinja keys it by template name and checks a
checksum of the template's source, so an edited template is compiled afresh, and every app
of the suite uses the same Jinja settings. Test-only: production builds one app per process,
which compiles each template once.
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
