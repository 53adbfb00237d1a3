"""The message layer: hardened XML and JSON parsing into domain commands, and the receipts.

Nothing here reads the clock, the network or the file system beyond this project's own schemas;
the worker passes in `now`, the AMQP headers and the ids it needs.
"""
