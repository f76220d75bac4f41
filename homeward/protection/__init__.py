"""Protection: encryption and keys, the vault of personal data, who may see and do what,
consent, retention, key rotation and backups."""
