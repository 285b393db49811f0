"""The command line and everything it prints: scenario runner, reports, demo."""
