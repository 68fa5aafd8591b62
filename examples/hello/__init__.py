"""A small diota application: see app.py."""
