"""Commands: one typed request per action, one runner."""
