"""Base: the tables, the database, settings, errors and the clock. Imports nothing above it."""
