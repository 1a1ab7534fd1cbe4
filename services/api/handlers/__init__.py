"""What the routes do: small functions over the context, free of HTTP details but the errors.

Writes check what they can against the database first (409 or 422 before anything is sent),
then publish their events and return the event id; the worker applies them. Reads come from the
system of record.
"""
