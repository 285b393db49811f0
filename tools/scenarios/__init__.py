"""Scenario files: load them, run them through the real ledger, check their expectations; the shipped demo."""

from .load import Scenario, ScenarioError, load
from .run import Outcome, run

__all__ = ["Outcome", "Scenario", "ScenarioError", "load", "run"]
