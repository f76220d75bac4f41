"""The staff web workspace: server-rendered pages over the commands layer (``create_app``).

Every page reads and writes through ``homeward.commands`` (``deps.call``), in the signed-in
person's language (gettext catalogs under ``locale/``) and timezone. No personal data in a URL.
"""
