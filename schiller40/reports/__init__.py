"""Reports for staff and for publication: utilisation of the spaces (anonymous aggregates).

Reports only read. They never write, so they have no service and no audit entry; each report
is one module with a database-facing entry point and pure functions behind it, so the numbers
can be tested exactly without a database.
"""
