"""Tests of the devstack/ harness itself, and the pytest fixture plugins that start it for the suite."""
