"""Public pages: the start page, the list of bookable resources and the price list."""
