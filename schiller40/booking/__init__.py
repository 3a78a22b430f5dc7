"""Bookings: the model, the pure rules and the snapshots they read, the use cases (create,
reschedule, cancel, the waitlist, check-in) and the member's pages."""
