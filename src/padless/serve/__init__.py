"""``padless serve``: an HTTP server over a trained model.

Holds the FastAPI app and its lifespan (``app``), the request / response schemas
(``schemas``), the micro-batcher that groups concurrent requests by length (``batcher``),
streaming sessions (``sessions``), Prometheus metrics (``monitoring``) and the HTTP protocol
with the request-head deadline and size cap (``connections``).

May import: errors, config, encode, batching, models, deploy. Never train.
"""

from typing import TYPE_CHECKING

from padless.lazy import exports

if TYPE_CHECKING:
    from padless.serve.app import create_app, serve
    from padless.serve.batcher import MicroBatcher
    from padless.serve.sessions import SessionStore

_EXPORTS = {
    "create_app": "app",
    "serve": "app",
    "MicroBatcher": "batcher",
    "SessionStore": "sessions",
}
__all__ = [
    "MicroBatcher",
    "SessionStore",
    "create_app",
    "serve",
]
__getattr__, __dir__ = exports(__name__, _EXPORTS)
