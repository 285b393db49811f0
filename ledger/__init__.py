"""The write side of syncledger: the vocabulary, the rule table, the sync engine and the event store."""
