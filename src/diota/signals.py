"""Signals the framework sends, for use with :mod:`blinker`.

Connect a receiver with, for example,
``request_started.connect(receiver, app)``; the sender is the application.
Signal names are the same as Flask's, so receivers that look signals up by
name keep working.
"""

from __future__ import annotations

from blinker import Namespace

# A namespace of its own so these signals cannot clash with signals that
# applications or extensions define in blinker's default namespace.
_signals = Namespace()

#: Sent after a template was rendered, with ``template`` and ``context``.
template_rendered = _signals.signal("template-rendered")
#: Sent before a template is rendered, with ``template`` and ``context``.
before_render_template = _signals.signal("before-render-template")
#: Sent when a request context is set up, before any request processing.
request_started = _signals.signal("request-started")
#: Sent before the response is sent, with ``response``.
request_finished = _signals.signal("request-finished")
#: Sent when the request context tears down, with ``exc``.
request_tearing_down = _signals.signal("request-tearing-down")
#: Sent when an unhandled exception occurs while handling a request, with
#: ``exception``.
got_request_exception = _signals.signal("got-request-exception")
#: Sent when the application context tears down, with ``exc``.
appcontext_tearing_down = _signals.signal("appcontext-tearing-down")
#: Sent when an application context is pushed.
appcontext_pushed = _signals.signal("appcontext-pushed")
#: Sent when an application context is popped.
appcontext_popped = _signals.signal("appcontext-popped")
#: Sent when a message is flashed, with ``message`` and ``category``.
message_flashed = _signals.signal("message-flashed")
