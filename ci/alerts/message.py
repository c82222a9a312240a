"""What an alert says: what failed, for which model version and environment, the figures, the links.

Short on purpose: chat services cap a message (WeCom markdown at 4096 bytes) and people read it on a phone;
the job's reports hold the rest.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ci import job

MAX_FIGURES = 12  # lines of figures kept; the rest is counted, the job's reports have them all
MAX_LINE = 300  # characters per figure line


@dataclass(frozen=True)
class Alert:
    what: str  # what failed, e.g. "latency gate failed", "deploy undone", "canary aborted"
    model: str
    version: str
    environment: str
    figures: tuple[str, ...] = field(default_factory=tuple)  # the failed checks with their values
    job_url: str | None = None
    pipeline_url: str | None = None

    @classmethod
    def from_job(cls, what: str, model: str, version: str, environment: str, figures=()) -> Alert:
        """An alert with this GitLab job's links (CI_JOB_URL, CI_PIPELINE_URL)."""
        links = job.actor()
        return cls(what, model or "?", version or "?", environment or "-", tuple(figures),
                   links["job_url"], links["pipeline_url"])

    @property
    def title(self) -> str:
        """"deploy failed: credit-risk version 7 (production)"; an unknown model or version is left out."""
        subject = "" if self.model == "?" else f": {self.model}"
        subject += f" version {self.version}" if subject and self.version != "?" else ""
        return f"{self.what}{subject} ({self.environment})"

    def figure_lines(self) -> list[str]:
        kept = [_clip(line) for line in self.figures if line.strip()][:MAX_FIGURES]
        more = len([line for line in self.figures if line.strip()]) - len(kept)
        return kept + ([f"... and {more} more in the job's reports"] if more > 0 else [])

    def facts(self) -> list[tuple[str, str]]:
        return [("model", self.model), ("version", self.version), ("environment", self.environment)]

    def links(self) -> list[tuple[str, str]]:
        return [(name, url) for name, url in (("job", self.job_url), ("pipeline", self.pipeline_url)) if url]

    def markdown(self) -> str:
        """Markdown as WeCom, DingTalk and most webhooks render it: heading, bullets, facts, links."""
        facts = " · ".join(f"{name}: **{value}**" for name, value in self.facts())
        links = " · ".join(f"[{name}]({url})" for name, url in self.links())
        return "\n".join([f"### {self.title}", *(f"- {line}" for line in self.figure_lines()), facts,
                          *([links] if links else [])])

    def as_dict(self) -> dict:
        return {"what": self.what, "model": self.model, "version": self.version,
                "environment": self.environment, "figures": list(self.figures), "job_url": self.job_url,
                "pipeline_url": self.pipeline_url}


def _clip(line: str) -> str:
    line = " ".join(line.split())
    return line if len(line) <= MAX_LINE else line[:MAX_LINE - 1] + "…"
