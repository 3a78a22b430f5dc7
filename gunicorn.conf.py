"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Each value can be overridden from the environment, so one file serves every machine.
"""

import multiprocessing
import os

bind = os.environ.get("SCHILLER40_BIND", "127.0.0.1:8000")
# Sync workers: the app is I/O-light and request handlers hold a DB transaction briefly.
workers = int(os.environ.get("SCHILLER40_WORKERS", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("SCHILLER40_THREADS", "1"))
timeout = int(os.environ.get("SCHILLER40_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Longest request line (method, URL, version) in bytes; longer ones get gunicorn's 414 page.
# gunicorn's default, set here because API v1's OpenAPI document states it
# (schiller40/api/openapi.py MAX_REQUEST_LINE; a test keeps the two equal).
limit_request_line = 4094
# Recycle workers now and then so a slow leak can never take a server down.
max_requests = 5000
max_requests_jitter = 500
# No access log from gunicorn: its lines carry query strings and the tokens of feed and
# password-reset URLs. The app logs each request itself, redacted (docs/security.md).
accesslog = None
errorlog = "-"
# Load the app once in the master: faster worker start, and a bad config fails before fork.
preload_app = True
# No runtime control socket (gunicorn 25.1+): nothing here uses it, and by default every
# gunicorn of the same user shares one path, which a killed master leaves behind.
control_socket_disable = True


def post_fork(server, worker):
    """Each worker starts with empty connection pools: the master's connections are its own
    (schiller40/core/forksafe.py; the app registers the same with os.register_at_fork, this
    hook says so where the fork is configured)."""
    from schiller40.core.forksafe import forget_inherited_connections

    forget_inherited_connections()
