from __future__ import annotations

from channels.routing import get_default_application
from django.core.management.base import BaseCommand

from comfyweb.core.webserver import run_web


class Command(BaseCommand):
    help = (
        "Serve the web role (pages, REST API, job WebSockets) with uvicorn: the scaled-out web command. "
        "Run as many as needed behind a load balancer, with PostgreSQL and Redis."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host: str, port: int, **options) -> None:
        application = get_default_application()  # settings.ASGI_APPLICATION: the whole site
        self.stdout.write(f"comfyweb web at http://{host}:{port}/")
        self.stdout.flush()
        run_web(application, host=host, port=port)
