"""The serving benchmark's floor: a constant-answer ASGI app under this service's Gunicorn.

    SERVICE_PORT=8080 SERVICE_WORKERS=2 $VENV/bin/python -m benchmarks.floor

Same entry point, settings, config file (`service/gunicorn.conf.py`) and worker class as `python -m
service`, but every request (probes included) is answered with the same small JSON after its body
was read: no model, no parsing, no middleware. Its CPU per request is what the HTTP stack alone
costs, the least a request to the service can cost under these workers.
"""
from __future__ import annotations

from typing import Any

from service.__main__ import ServiceApplication
from service.logs import configure_logging
from service.settings import Settings

ANSWER = b'{"predictions": [0]}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


async def constant_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more_body = True
    while more_body:  # read the request as the service does, so the floor pays for it too
        message = await receive()
        more_body = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})


class FloorApplication(ServiceApplication):
    def load(self):
        return constant_app


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    FloorApplication(settings).run()


if __name__ == "__main__":
    main()
