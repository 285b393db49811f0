"""Real data in (SOURCES.md): a people file, a baseline, Dataverse audit pages and Microsoft 365 audit CSVs (and
action lines beside them), judged row by row against the ledger and turned into numbered actions, inferred
syncs and discrepancies. `importer.run_import` is the one entry; `import` and `convert` call it."""
