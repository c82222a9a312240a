"""Traffic sent on purpose: one Locust measurement, and the scheduled load test of the live environment."""
