"""What concerns one member across every feature: the account page's figures, the GDPR data
export and account deletion, and the staff's member search and record; and the pages that
show them: everything under ``/account`` (``account_pages.py``) and under ``/bookings``
(``booking_pages.py``, a booking with its payment and calendar file).

These read or change bookings, payments, memberships, calendar feeds and the account at
once, so they sit above all of those packages; ``accounts`` below them knows only users,
companies, log-in and registration.
"""
