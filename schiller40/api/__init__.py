"""JSON API v1: bearer-token authenticated, strictly validated, documented by OpenAPI 3.1."""
