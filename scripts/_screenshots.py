"""Screenshots of the main pages for the README (run through scripts/screenshots).

Seeds the demo data into a throwaway SQLite database, adds a few bookings for the demo member,
serves the app on a free port of 127.0.0.1 in this process, and photographs each page at
phone and desktop width in Debian's chromium. The clock stands still on a fixed Monday and
links that leave the site use an example address, so a second run gives the same pictures
except for what is random by design (the secret in a calendar feed address).

The PNGs are made smaller without any image library: Chromium compresses fast, not small, so
the image data is compressed again at zlib's best level, and a picture with at most 256
colours becomes a palette PNG. Both are lossless.
"""

from __future__ import annotations

import argparse
import logging
import struct
import sys
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
# Monday 23 November 2026, 09:00 in Wolfsburg (the same morning the tests stand on).
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
WIDTHS = {"phone": (390, 844), "desktop": (1280, 800)}


@dataclass(frozen=True)
class Shot:
    """One page: a file name, the path (``{held}``/``{confirmed}`` filled in), who looks."""

    name: str
    path: str
    who: str | None = None


SHOTS = [
    Shot("start", "/"),
    Shot("spaces", "/resources"),
    Shot("availability", "/availability?kind=desk", "member"),
    Shot("booking-form", "/resources/ar-vr-studio/book", "member"),
    Shot("my-bookings", "/bookings", "member"),
    Shot("booking-detail", "/bookings/{held}", "member"),
    Shot("account", "/account", "member"),
    Shot("staff", "/staff/", "staff"),
    Shot("staff-calendar", "/staff/calendar/ar-vr-studio", "staff"),
    Shot("staff-utilisation", "/staff/utilisation", "staff"),
]


# --- PNG: recompress losslessly ----------------------------------------------------------------


def _chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        yield kind, data[pos + 8:pos + 8 + length]
        pos += 12 + length


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(
        ">I", zlib.crc32(kind + body) & 0xFFFFFFFF
    )


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> list[bytearray]:
    """The pixel rows of 8-bit image data, PNG's five row filters undone."""
    stride = width * bpp
    rows: list[bytearray] = []
    prev = bytearray(stride)
    pos = 0
    for _ in range(height):
        kind = raw[pos]
        row = bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        if kind == 1:
            for i in range(bpp, stride):
                row[i] = (row[i] + row[i - bpp]) & 0xFF
        elif kind == 2:
            row = bytearray((a + b) & 0xFF for a, b in zip(row, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = row[i - bpp] if i >= bpp else 0
                row[i] = (row[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = row[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                row[i] = (row[i] + pred) & 0xFF
        rows.append(row)
        prev = row
    return rows


def optimise_png(data: bytes) -> bytes:
    """The same picture, usually much smaller: palette if it fits, best zlib level always."""
    header = b""
    idat = bytearray()
    for kind, body in _chunks(data):
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in (2, 6) or interlace:
        return data  # not what Chromium writes; leave it alone
    bpp = 4 if colour == 6 else 3
    raw = zlib.decompress(bytes(idat))
    rows = _unfilter(raw, width, height, bpp)
    if bpp == 4 and all(row[3::4] == b"\xff" * width for row in rows):
        rows = [bytearray(b for i, b in enumerate(row) if i % 4 != 3) for row in rows]
        bpp, colour = 3, 2
    best = _recompress(raw)
    result = _chunk(b"IHDR", header) + _chunk(b"IDAT", best)
    if bpp == 3:
        palette: dict[bytes, int] = {}
        indexed = bytearray()
        for row in rows:
            indexed.append(0)
            for i in range(0, len(row), 3):
                pixel = bytes(row[i:i + 3])
                index = palette.setdefault(pixel, len(palette))
                if index > 255:
                    break
                indexed.append(index)
            if len(palette) > 256:
                break
        if len(palette) <= 256:
            plte = b"".join(palette)
            ihdr = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
            candidate = (_chunk(b"IHDR", ihdr) + _chunk(b"PLTE", plte)
                         + _chunk(b"IDAT", _recompress(bytes(indexed))))
            if len(candidate) < len(result):
                result = candidate
        else:
            plain = bytearray()
            for row in rows:
                plain.append(0)
                plain += row
            ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
            candidate = _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", _recompress(bytes(plain)))
            if len(candidate) < len(result):
                result = candidate
    out = b"\x89PNG\r\n\x1a\n" + result + _chunk(b"IEND", b"")
    return out if len(out) < len(data) else data


def _recompress(raw: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 15, 9)
    return packer.compress(raw) + packer.flush()


# --- the app, its data and a server -------------------------------------------------------------


def make_app(database: Path):
    from flask_migrate import upgrade

    from schiller40 import MIGRATIONS_DIR, create_app
    from schiller40.core.time import FrozenClock
    from schiller40.extensions import db

    app = create_app({
        "ENV_NAME": "development", "DATABASE_URL": f"sqlite:///{database}",
        "SECRET_KEY": "screenshots-only-not-secret", "PAYMENT_GATEWAY": "simulated",
        "PUBLIC_URL": "https://buchen.schiller40.example", "AUTO_MIGRATE": False,
    }, clock=FrozenClock(NOW))
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        db.engine.dispose()
    return app


def seed(app, progress: Callable[[str], None]) -> dict[str, str]:
    """The demo data, plus a desk morning (included) and an AR/VR studio slot waiting for
    payment for the demo member."""
    from sqlalchemy import select

    from schiller40.booking.create import create_bookings
    from schiller40.booking.requests import BookingRequest
    from schiller40.booking.settings import from_config
    from schiller40.core.time import BERLIN
    from schiller40.demo import seed as seed_demo
    from schiller40.extensions import db
    from schiller40.models import User

    def at(day: date, hour: int) -> datetime:
        return datetime.combine(day, time(hour)).replace(tzinfo=BERLIN)

    with app.app_context():
        seed_demo(db.session, now=NOW, progress=progress)
        member = db.session.scalar(select(User).filter_by(email="member@schiller40.example"))
        settings = from_config(app.config)
        ids = {}
        for key, slug, day, start, end in (
            ("confirmed", "desk-a01", date(2026, 11, 24), 8, 13),
            ("held", "ar-vr-studio", date(2026, 11, 26), 10, 12),
        ):
            progress(f"Booking {slug} for the demo member ...")
            outcome = create_bookings(
                db.session, actor=member, now=NOW, settings=settings,
                request=BookingRequest(start=at(day, start), end=at(day, end),
                                       resource_slug=slug),
            )
            db.session.commit()
            ids[key] = str(outcome.bookings[0].id)
        db.session.remove()
        db.engine.dispose()
    return ids


@contextmanager
def serve(app) -> Iterator[str]:
    """The app on a free port in a thread of this process; always stopped on the way out."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="screenshots", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- the browser ---------------------------------------------------------------------------------


def log_in(page, email: str, password: str) -> None:
    page.goto("/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector("form[action='/logout']")


def photograph(base_url: str, ids: dict[str, str], out: Path, lang: str,
               progress: Callable[[str], None]) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from schiller40.demo import DEMO_PASSWORDS

    accounts = {"member": "member@schiller40.example", "staff": "staff@schiller40.example"}
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        try:
            contexts = {}
            for who in (None, "member", "staff"):
                context = browser.new_context(
                    base_url=base_url, locale="de-DE" if lang == "de" else "en-GB",
                    timezone_id="Europe/Berlin", reduced_motion="reduce",
                )
                page = context.new_page()
                if who:
                    log_in(page, accounts[who], DEMO_PASSWORDS[accounts[who]])
                contexts[who] = page
            for shot in SHOTS:
                page = contexts[shot.who]
                for width_name, (width, height) in WIDTHS.items():
                    page.set_viewport_size({"width": width, "height": height})
                    response = page.goto(shot.path.format(**ids))
                    if response is None or response.status != 200:
                        raise SystemExit(f"{shot.path}: HTTP {response and response.status}")
                    target = out / f"{shot.name}-{width_name}.png"
                    raw = page.screenshot(full_page=True, animations="disabled", caret="hide")
                    small = optimise_png(raw)
                    target.write_bytes(small)
                    written.append(target)
                    shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
                    progress(f"{shown}  {len(small) // 1024} KiB (from {len(raw) // 1024} KiB)")
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots",
                        help="folder for the PNGs (default: docs/screenshots)")
    parser.add_argument("--lang", choices=("de", "en"), default="de")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)

    def progress(message: str) -> None:
        print(f"  {message}", flush=True)

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per picture is enough

    with tempfile.TemporaryDirectory(prefix="schiller40-shots-") as tmp:
        print("==> Demo data in a temporary SQLite database", flush=True)
        app = make_app(Path(tmp) / "demo.db")
        ids = seed(app, progress)
        with serve(app) as base_url:
            print(f"==> Photographing {len(SHOTS)} pages at {base_url}", flush=True)
            written = photograph(base_url, ids, args.out, args.lang, progress)
    total = sum(p.stat().st_size for p in written)
    print(f"==> {len(written)} PNGs, {total // 1024} KiB in all, in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
