"""Bookings: the model here; rules, service and API as the booking engine lands."""
