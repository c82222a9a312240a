"""Deploys judged on live figures before every user gets them: canary and shadow, and the strategy a deploy takes."""
