"""iCalendar feeds: members' own bookings, per-resource calendars, the staff location feed."""
