"""What never leaves a job: the secret environment values and the `user:password@` of any URL.
Every message, report and log line that may carry a URL or an error text passes through `redact`."""
from __future__ import annotations

import os
import re

# the tracking server's, and a direct S3 artifact store's (the access key id too: it names the account)
SECRET_ENV = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
              "AWS_ACCESS_KEY_ID", "PROMETHEUS_TOKEN")
USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://)[^/\s@]+@", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with each secret env value replaced by *** and any URL's user info by ***."""
    for name in SECRET_ENV:
        secret = os.environ.get(name)
        if secret:
            text = text.replace(secret, "***")
    return USERINFO.sub(r"\1***@", text)
