"""Which channels to alert: ALERT_URLS (several URLs, comma or space separated) and ALERT_WEBHOOK_URL.

Three forms, each naming one service (its kind) and the URL that is posted to:
- apprise's short forms: `wecombot://KEY`, `dingtalk://[SECRET@]TOKEN`, `feishu://[SECRET@]TOKEN`,
  `lark://[SECRET@]TOKEN`, `slack://TA/TB/TC`, `workflows://HOST[:PORT]/WORKFLOW/SIGNATURE[?pa=yes]`,
  `json://HOST/PATH`, `jsons://HOST/PATH`;
- the webhook URL the service shows, kind known from its host (qyapi.weixin.qq.com, oapi.dingtalk.com,
  open.feishu.cn, open.larksuite.com, hooks.slack.com, a Workflows `.../triggers/manual/paths/invoke`);
  any other http(s) URL is a generic JSON webhook;
- `KIND+https://...` (or `+http`): that kind at any address: a relay, a private endpoint, a test server.
A signing secret rides along as `secret=` in the query (or as the user part of the short forms); it is
taken out before anything is sent. Only `Channel.describe()` (kind and host) is ever printed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

KINDS = ("wecombot", "dingtalk", "feishu", "lark", "slack", "workflows", "json")
ALIASES = {"wecom": "wecombot", "workflow": "workflows", "teams": "workflows", "jsons": "json",
           "webhook": "json"}
ENDPOINTS = {
    "wecombot": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={0}",
    "dingtalk": "https://oapi.dingtalk.com/robot/send?access_token={0}",
    "feishu": "https://open.feishu.cn/open-apis/bot/v2/hook/{0}",
    "lark": "https://open.larksuite.com/open-apis/bot/v2/hook/{0}",
    "slack": "https://hooks.slack.com/services/{0}",
}
HOSTS = {"qyapi.weixin.qq.com": "wecombot", "oapi.dingtalk.com": "dingtalk", "open.feishu.cn": "feishu",
         "open.larksuite.com": "lark", "hooks.slack.com": "slack"}
WORKFLOW_PATH = re.compile(r"/workflows/[^/]+/triggers/manual/paths/invoke/?$")
SEPARATORS = re.compile(r"[\s,]+")


class BadChannel(ValueError):
    """An entry that names no known channel; the message never contains the entry itself."""


@dataclass(frozen=True)
class Channel:
    kind: str  # one of KINDS
    url: str  # what is posted to, secrets in it included
    secret: str | None = None  # signing secret (DingTalk, Feishu, Lark)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "?"

    def describe(self) -> str:
        """What may be printed: the kind and the host, never a key, token, signature or path."""
        return f"{self.kind} on {self.host}"

    def secrets(self) -> list[str]:
        """Every part of the URL that could be a credential, to scrub from anything a service answers: the
        query's values, the user part, the signing secret, and path segments that are not plain words
        (tokens have digits; `webhook` or `services` stay readable)."""
        split = urlsplit(self.url)
        tokens = [part for part in split.path.split("/") if re.search(r"\d", part) or len(part) > 16]
        parts = [self.secret or "", split.username or "", split.password or "",
                 *(value for _, value in parse_qsl(split.query)), *tokens]
        return sorted({part for part in parts if len(part) >= 4}, key=len, reverse=True)


def configured(*texts: str | None) -> tuple[list[Channel], list[str]]:
    """The channels in `texts` (ALERT_URLS, ALERT_WEBHOOK_URL), each URL once, and one line per entry that
    could not be understood (numbered, never quoted: it may hold a key)."""
    channels, problems, seen = [], [], set()
    entries = [entry for text in texts if text for entry in SEPARATORS.split(text.strip()) if entry]
    for number, entry in enumerate(entries, start=1):
        try:
            channel = parse(entry)
        except BadChannel as exc:
            problems.append(f"alert channel #{number} skipped: {exc}")
            continue
        if channel.url not in seen:
            seen.add(channel.url)
            channels.append(channel)
    return channels, problems


def parse(entry: str) -> Channel:
    scheme, sep, rest = entry.partition("://")
    scheme = scheme.lower()
    if not sep or not rest:
        raise BadChannel("not a URL (write e.g. wecombot://KEY or https://...)")
    if "+" in scheme:
        kind, _, transport = scheme.partition("+")
        if transport not in ("http", "https"):
            raise BadChannel(f"{scheme}:// is not KIND+https:// or KIND+http://")
        return _with_secret(_kind(kind), f"{transport}://{rest}")
    if scheme in ("http", "https"):
        return _with_secret(_native_kind(entry), entry)
    if scheme in ("json", "jsons"):
        return _with_secret("json", f"{'https' if scheme == 'jsons' else 'http'}://{rest}")
    kind = _kind(scheme)
    return _short_form(kind, rest)


def _kind(name: str) -> str:
    kind = ALIASES.get(name, name)
    if kind not in KINDS:
        raise BadChannel(f"unknown kind {name!r} (known: {', '.join(KINDS)})")
    return kind


def _native_kind(url: str) -> str:
    split = urlsplit(url)
    host = (split.hostname or "").lower()
    if host in HOSTS:
        return HOSTS[host]
    return "workflows" if WORKFLOW_PATH.search(split.path) else "json"


def _with_secret(kind: str, url: str) -> Channel:
    """Take `secret=` out of the query: it signs the request and must never be sent."""
    split = urlsplit(url)
    if not split.hostname:
        raise BadChannel(f"a {kind} URL without a host")
    query = parse_qsl(split.query, keep_blank_values=True)
    secret = next((value for name, value in query if name == "secret"), None)
    kept = urlencode([(name, value) for name, value in query if name != "secret"])
    return Channel(kind, urlunsplit(split._replace(query=kept)), secret or None)


def _short_form(kind: str, rest: str) -> Channel:
    """apprise's forms: the token (and for DingTalk/Feishu/Lark `SECRET@`) where a host would be."""
    split = urlsplit(f"x://{rest}")
    query = dict(parse_qsl(split.query))
    userinfo, _, hostport = split.netloc.rpartition("@")
    token = unquote(query.get("key") or query.get("token") or hostport)
    secret = unquote(query.get("secret") or userinfo) or None
    if not token:
        raise BadChannel(f"{kind}:// without its key or token")
    if kind == "slack":
        tokens = [token, *[part for part in split.path.split("/") if part]][:3]
        if len(tokens) != 3:
            raise BadChannel("slack:// needs the webhook's three tokens: slack://TA/TB/TC")
        return Channel(kind, ENDPOINTS[kind].format("/".join(quote(t, safe="") for t in tokens)))
    if kind == "workflows":
        return _workflows(hostport, split.path, query)
    if kind == "json":  # reached only through an alias such as webhook://
        return _with_secret("json", f"https://{rest}")
    return Channel(kind, ENDPOINTS[kind].format(quote(token, safe="")), secret)


def _workflows(hostport: str, path: str, query: dict[str, str]) -> Channel:
    """workflows://HOST[:PORT]/WORKFLOW/SIGNATURE[?pa=yes][&ver=...], as apprise reads it."""
    parts = [part for part in path.split("/") if part]
    if len(parts) != 2:
        raise BadChannel("workflows:// needs HOST/WORKFLOW/SIGNATURE")
    workflow, signature = parts
    power_automate = query.get("pa", "").lower() in ("yes", "true", "1")
    prefix = "/powerautomate/automations/direct" if power_automate else ""
    params = {"api-version": query.get("ver") or ("1" if power_automate else "2016-06-01"),
              "sp": "/triggers/manual/run", "sv": "1.0", "sig": signature}
    return Channel("workflows", f"https://{hostport}{prefix}/workflows/{workflow}/triggers/manual/paths/invoke?"
                                f"{urlencode(params)}")
