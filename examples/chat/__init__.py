"""A chat over WebSockets and a broadcast channel: see app.py."""
