"""Scenario files: load them, run them through the real ledger, check their expectations; the shipped demo."""

from .extract import Extract, extract
from .load import Scenario, ScenarioError, load
from .run import Outcome, run

__all__ = ["Extract", "Outcome", "extract", "Scenario", "ScenarioError", "load", "run"]
