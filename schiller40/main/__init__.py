"""Public pages: the start page and the list of bookable resources."""
