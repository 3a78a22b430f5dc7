"""Staff changes to the venue that must respect the bookings already made: editing resources,
opening hours and closures (refused while they would strand bookings), and blocks (refused,
or cancelling the bookings they cover with a full refund).

These read and cancel bookings and refund payments, so they sit above ``booking`` and
``payments``; ``resources`` below them holds only the models and the plain switches.
"""
