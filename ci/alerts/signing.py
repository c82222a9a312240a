"""The signatures DingTalk and Feishu/Lark robots check when "signature verification" is on.

Both are HMAC-SHA256 over "timestamp\\nsecret", base64; they differ in which is the key and the message,
and in the timestamp's unit and where it travels (a mix-up answers 310000 or 19021, not a 4xx).
"""
from __future__ import annotations

import base64
import hashlib
import hmac


def dingtalk(secret: str, timestamp_ms: int) -> str:
    """DingTalk: key = secret, message = "<ms>\\nsecret"; sent as `timestamp` and `sign` query parameters."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu(secret: str, timestamp_s: int) -> str:
    """Feishu/Lark: key = "<s>\\nsecret", message empty; sent as `timestamp` and `sign` in the JSON body."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()
