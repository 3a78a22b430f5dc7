"""The ceiling: a bare Flask "hello" app, served by gunicorn with the app's own settings.

    SCHILLER40_BIND=127.0.0.1:8001 .venv/bin/gunicorn -c gunicorn.conf.py bench.hello:app

bench/suite.py measures it in every run; each scenario's target is a ratio to it.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"
