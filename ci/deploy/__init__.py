"""The deploy stage: a rolling update applied, watched, smoke-checked and undone on failure, one at a time."""
