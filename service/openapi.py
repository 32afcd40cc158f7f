"""The OpenAPI document as served: BentoML's, with the error responses the service really sends.

BentoML declares every error body as `{"error": string, "detail": string}` and only the
status codes 400, 404 and 500. The service's 400s carry pydantic's list of problems in
`detail`, and requests can also end in 408, 413, 415, 429, 503 or 504 (all JSON with an
`error` message). Clients generated from the document, and schemathesis, hold the
service to what it declares, so the declaration is corrected here. BentoML's default
description is its README template, whose badge images load from third-party hosts; the
document describes this service instead.
"""

from __future__ import annotations

import copy

ERROR_SCHEMA_NAME = "ServiceError"
ERROR_SCHEMA = {
    "title": ERROR_SCHEMA_NAME,
    "type": "object",
    "description": "Why the request was refused or failed.",
    "properties": {
        "error": {"title": "Message", "type": "string"},
        "detail": {
            "title": "Error Detail",
            "description": "For invalid input, one entry per problem (`loc` names the field, `msg` says what "
                           "is wrong); otherwise a string, or absent.",
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}],
        },
    },
    "required": ["error"],
}
EXTRA_RESPONSES = {
    "408": "The request body arrived too slowly.",
    "413": "The request body is larger than the service accepts.",
    "415": "The body is not JSON (the Content-Type, when sent, must be one application/json).",
    "429": "Too many requests in flight on this worker; retry later.",
    "503": "The model is still loading (or failed to load); retry later.",
    "504": "The request took longer than the service's time limit.",
}
# Responses only some endpoints send.
PATH_RESPONSES = {
    "/explain": {
        "501": "Neighbours were asked for, but the serving model has no neighbour index or no pooled output "
               "(trained before they existed); the message names the fix.",
    },
}


SERVICE_DESCRIPTION = (
    "Stance toward China's peace plan for the war in Ukraine (supportive, skeptical, neutral) and "
    "policy frame of news sentences, with calibrated probabilities. POST /classify labels sentences "
    "(each optionally with its context); POST /analyze segments an article, labels every sentence "
    "in context and summarizes the article; POST /explain labels sentences with their most similar "
    "labeled training sentences and, when asked, each word's part in the stance; POST /corpus scores a JSONL "
    "or CSV of articles and reports stance and frames by group (e.g. outlet) and period with bootstrap "
    "intervals; GET /model_info names the model, its labels and limits."
)


def corrected_spec(spec: dict, limits: dict) -> dict:
    """`spec` with our own description, every error response pointing at ServiceError and the limits."""
    spec = copy.deepcopy(spec)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_SCHEMA_NAME] = ERROR_SCHEMA
    reference = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}
    for path, item in spec.get("paths", {}).items():
        for operation in item.values():
            body = operation.get("requestBody")
            if isinstance(body, dict) and _has_required_fields(body, schemas):
                # BentoML leaves the body optional; a request without one is refused with a 400.
                body["required"] = True
            responses = operation.get("responses")
            if not isinstance(responses, dict):
                continue
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    response["content"] = {"application/json": {"schema": reference}}
            for status, description in (EXTRA_RESPONSES | PATH_RESPONSES.get(path, {})).items():
                responses.setdefault(
                    status, {"description": description, "content": {"application/json": {"schema": reference}}}
                )
    info = spec.setdefault("info", {})
    info["description"] = (
        SERVICE_DESCRIPTION + "\n\nLimits: " + ", ".join(f"{name} {value}" for name, value in limits.items()) + "."
    )
    return spec


def _has_required_fields(body: dict, schemas: dict) -> bool:
    for media in body.get("content", {}).values():
        schema = media.get("schema", {})
        if "$ref" in schema:
            schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
        if schema.get("required"):
            return True
    return False
