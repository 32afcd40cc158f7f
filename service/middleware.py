"""ASGI middleware: the prediction endpoints take JSON and nothing else.

BentoML would try to parse any other Content-Type (multipart/form-data, for example) and
fail with a 500; this answers 415 with a message before the body is parsed.
"""

from __future__ import annotations

import json


class JsonBodyOnly:
    """Reply 415 to a POST whose Content-Type is set and is not application/json."""

    def __init__(self, app, paths: tuple[str, ...]):
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.paths:
            headers = dict(scope["headers"])
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            media_type = content_type.split(";", 1)[0].strip().lower()
            if media_type and media_type != "application/json":
                body = json.dumps(
                    {"error": f"Content-Type must be application/json, found {content_type!r}. Send a JSON body."}
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 415,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
