"""The pure core: the rules of DOMAIN.md with no I/O, no asyncio and no clock reads."""
