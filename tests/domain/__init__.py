"""Tests of the pure availability engine (adapter/domain), rule by rule (DOMAIN.md R1–R16)."""
