"""The portal's read side: an HTTP API over the store, on a connection of its own (issue 12)."""
