"""Locations, their opening hours and closures, bookable resources and blocks."""
