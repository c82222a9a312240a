"""Gates between build and deploy: each module checks one thing and raises CheckFailed."""
