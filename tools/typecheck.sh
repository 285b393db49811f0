#!/usr/bin/env bash
# mypy strict over the installed package's layout: setuptools' editable install maps the repository's
# folders into `syncledger` with an import hook mypy cannot follow, so lay the same package out as links.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .typecheck && mkdir -p .typecheck/syncledger
ln -s ../../tools/package/__init__.py ../../tools/package/__main__.py .typecheck/syncledger/
for part in ledger projections tools; do ln -s "../../$part" ".typecheck/syncledger/$part"; done
exec mypy "$@"
