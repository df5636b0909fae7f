"""The ASGI entry point for uvicorn: `uvicorn web.asgi:app`."""

from web.app import create_app
from web.logs import configure

configure()
app = create_app()
