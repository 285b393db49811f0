"""What the ledger says about an item, in words: sentences, why, history, diff and the HTML timeline."""
