"""`python -m syncledger`: the same program as the `syncledger` command."""

from syncledger.tools.cli import main

main()
