"""Performance: a synthetic organisation as action lines, and the benchmark of DESIGN.md."""
