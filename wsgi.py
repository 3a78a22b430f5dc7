"""WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

from schiller40 import create_app

app = create_app()
