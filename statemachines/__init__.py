"""Return-case state machines: the transition table, its guards, and firing triggers on cases.

``return_case`` declares the procedure as a table; ``steps`` the typed data each trigger takes;
``cases`` opens cases and fires triggers, each in one database transaction.
"""
