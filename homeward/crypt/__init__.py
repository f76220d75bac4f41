"""The keyring and the ciphers: below the records (the audit log's MACs use its keys) and above
the base. ``cryptography`` does the cryptography; nothing here is written by hand."""
