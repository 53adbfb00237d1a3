"""ddfl-adapter: decides what citizens see of their GP's digital services on Helsenorge."""

__version__ = "0.1.0"
