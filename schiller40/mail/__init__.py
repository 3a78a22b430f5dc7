"""E-mail: the messages members and staff receive, how they are written, and how they leave.

Services never send mail. They queue an outbox entry (``core.outbox.enqueue``) naming a
topic such as ``mail.booking_confirmed`` and the ids it concerns; the worker later asks the
catalogue (``catalog``) to compose the message from the database as it is then, in the
recipient's language, and hands it to the backend (``backends``): SMTP in production, a
folder the developer can open on the embedded default.
"""
