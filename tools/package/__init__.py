"""syncledger, as installed: one package whose parts are the repository's top-level folders.

The repository keeps `ledger/`, `projections/` and `tools/` at its top level; `pyproject.toml` maps them to
`syncledger.ledger`, `syncledger.projections` and `syncledger.tools` (setuptools' package-dir), and this folder
is `syncledger` itself, so that installing the project adds one import name and collides with nothing.
"""
