"""The read side of syncledger: the state document, the item index, and the state as of any point."""
