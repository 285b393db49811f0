"""Scenario files: load them, run them through the real ledger, check their expectations; the shipped demo."""
