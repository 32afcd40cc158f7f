"""ASGI middleware in front of the whole service: what reaches BentoML is bounded and well-formed.

- A POST to a prediction endpoint may carry at most one Content-Type, and it must be
  application/json (none at all is read as JSON, as `curl -X POST` sends for
  /model_info): anything else is 415 before the body is read (BentoML would try to
  parse multipart/form-data and fail with a 500, and with two headers it reads the first
  while a naive check reads the last).
- Its body is read here, up to `max_body_bytes` (413 beyond, from Content-Length before
  reading when it is given) and within `body_seconds` (408 for a client that sends too
  slowly and would hold a concurrency slot), then handed to BentoML from memory.
- GET / redirects to our API page (`/ui/api`), which loads nothing from outside the
  service: BentoML's own page embeds Google Tag Manager.
- GET /docs.json is BentoML's OpenAPI document with the error responses corrected to
  what the service really sends (`service/openapi.py`).
"""

from __future__ import annotations

import asyncio
import json

from service.openapi import corrected_spec


async def send_json(send, status: int, payload: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    def __init__(self, app, api_paths: tuple[str, ...], max_body_bytes: int, body_seconds: float, limits: dict):
        self.app = app
        self.api_paths = frozenset(api_paths)
        self.max_body_bytes = max_body_bytes
        self.body_seconds = body_seconds
        self.limits = limits

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if path == "/" and method in ("GET", "HEAD"):
            await send({"type": "http.response.start", "status": 307,
                        "headers": [(b"location", b"/ui/api"), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        if path == "/docs.json" and method == "GET":
            await self._corrected_docs(scope, receive, send)
            return
        if method == "POST" and path in self.api_paths:
            refusal = self._refusal(scope["headers"])
            if refusal:
                await send_json(send, *refusal)
                return
            body, refusal = await self._read_body(receive)
            if refusal:
                # Connection: close, so the rest of an oversized or stalled body is never read.
                await send_json(send, *refusal, headers=[(b"connection", b"close")])
                return
            receive = self._replay(body, receive)
        await self.app(scope, receive, send)

    def _refusal(self, headers) -> tuple[int, dict] | None:
        """(status, body) when the headers alone disqualify the request."""
        content_types = [value.decode("latin-1") for name, value in headers if name == b"content-type"]
        if len(content_types) > 1:
            return 415, {"error": f"Found {len(content_types)} Content-Type headers ({content_types}); send exactly "
                                  "one: application/json."}
        media_type = content_types[0].split(";", 1)[0].strip().lower() if content_types else ""
        if media_type and media_type != "application/json":
            return 415, {"error": f"Content-Type must be application/json, found {content_types[0]!r}. Send a JSON body."}
        lengths = [value for name, value in headers if name == b"content-length"]
        if len(lengths) > 1 or (lengths and not lengths[0].isdigit()):
            return 400, {"error": "The Content-Length header is malformed or repeated; send exactly one."}
        if lengths and int(lengths[0]) > self.max_body_bytes:
            return 413, self._too_large(int(lengths[0]))
        return None

    def _too_large(self, size: int | None) -> dict:
        found = f"{size} bytes" if size is not None else "more"
        return {"error": f"The request body is limited to {self.max_body_bytes} bytes, found {found}. "
                         f"Split the text (caps: {self.limits}) or raise STANCEFRAME_MAX_BODY_BYTES."}

    async def _read_body(self, receive) -> tuple[bytes, tuple[int, dict] | None]:
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self.body_seconds):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return b"", (400, {"error": "The client disconnected before sending the whole body."})
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        return b"", (413, self._too_large(None))
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks), None
        except TimeoutError:
            return b"", (408, {"error": f"The request body did not arrive within {self.body_seconds:g} s."})

    @staticmethod
    def _replay(body: bytes, receive):
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    async def _corrected_docs(self, scope, receive, send) -> None:
        captured: dict = {"body": b""}

        async def capture(message):
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")

        await self.app(scope, receive, capture)
        if captured.get("status") != 200:
            await send_json(send, captured.get("status", 500), {"error": "The OpenAPI document is unavailable."})
            return
        await send_json(send, 200, corrected_spec(json.loads(captured["body"]), self.limits))
