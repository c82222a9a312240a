"""MkDocs hook (mkdocs.yml `hooks:`): a `|` in code inside a table cell is written `\\|`, which GitLab's
and GitHub's Markdown need so the cell does not split there, and show as `|`. Python-Markdown keeps the
backslash, so the site would show `\\|` in the component inputs' regexes (docs/component.md, generated
by devstack/component_docs.py): it is dropped here, from code in table cells only."""
from __future__ import annotations

import re

_CELL = re.compile(r"(<td[^>]*>)(.*?)(</td>)", re.S)
_CODE = re.compile(r"<code>[^<]*</code>")


def _unescape_pipes(cell: re.Match) -> str:
    inner = _CODE.sub(lambda code: code.group(0).replace("\\|", "|"), cell.group(2))
    return cell.group(1) + inner + cell.group(3)


def on_page_content(html: str, **kwargs) -> str:
    return _CELL.sub(_unescape_pipes, html)
