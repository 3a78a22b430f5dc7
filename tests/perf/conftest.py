"""The API tests' fixtures (an authenticated client checked against OpenAPI), shared here."""

from tests.api.conftest import Api, api, api_as, staff_api  # noqa: F401
