"""Replay for integration testers: scenarios, the citizen's view, synthetic fixture sets."""
