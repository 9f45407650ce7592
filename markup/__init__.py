"""What a message says, as HTML: Markdown rendered once on the server, sanitized (``render``).

Its own Django app so that its stylesheet (``static/markup/code.css``: the highlighted code's
classes) is collected with it; no models. ``docs/protocol.md`` lists the Markdown that renders.
"""

from markup.markdown import render, render_async

__all__ = ["render", "render_async"]
