"""Telling a caller's URL that its task ended: signed, retried, and SSRF-guarded like input URLs.

A caller gives the URL in the `X-Callback-Url` header or the `callback_url` body field. The
agent POSTs `{"task_id", "status", "progress"}` (no base64 results: fetch them with
`/api/status?id=…&results=1`). With `AGENT_WEBHOOK_SECRET` set, the header
`X-Comfyweb-Signature: sha256=<hex HMAC-SHA256 of the raw body>` lets the receiver check it came
from the agent. The URL is checked and the call pinned to the checked address by
comfyweb.core.fetch, as input URLs are. Three tries, waiting 1 s then 2 s (`webhook_retry_delay` doubles).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from dataclasses import replace

import httpx

from comfyweb.core.fetch import FetchError, FetchPolicy, check_url_target, outbound_client, post_url

logger = logging.getLogger(__name__)

TRIES = 3
WEBHOOK_TIMEOUT = 10.0
SIGNATURE_HEADER = "X-Comfyweb-Signature"


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(task_id: str, progress: dict) -> bytes:
    status = (progress.get("") or {}).get("status")
    return json.dumps({"task_id": task_id, "status": status, "progress": progress}, separators=(",", ":")).encode()


async def check_callback_url(url: str, policy: FetchPolicy) -> None:
    """Raise FetchError when `url` may not be called (not http(s), or not a public address)."""
    await check_url_target(url, policy)


async def deliver(
    url: str, task_id: str, progress: dict, *, secret: str, policy: FetchPolicy, retry_delay: float = 1.0
) -> bool:
    """POST the final progress to `url`; True once a 2xx answer came back."""
    body = webhook_body(task_id, progress)
    headers = {"Content-Type": "application/json", "X-Comfyweb-Task-Id": task_id}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    delay = retry_delay
    policy = replace(policy, timeout=WEBHOOK_TIMEOUT)
    async with outbound_client(policy) as client:
        for attempt in range(1, TRIES + 1):
            try:
                # Checked and pinned on every try: the address that passed the check is the one called.
                status = await post_url(url, policy, body, headers, client=client)
                if 200 <= status < 300:
                    return True
                logger.warning("webhook %s for task %s answered %s", url, task_id, status)
            except FetchError as exc:
                logger.warning("webhook for task %s refused: %s", task_id, exc)
                return False
            except (httpx.HTTPError, TimeoutError) as exc:
                logger.warning("webhook %s for task %s failed: %s", url, task_id, exc or type(exc).__name__)
            if attempt < TRIES:
                await asyncio.sleep(delay)
                delay *= 2
    return False
