"""Synthetic credit applications, generated (no downloads) so every run is reproducible."""
from __future__ import annotations

import numpy as np
import pandas as pd

EMPLOYMENT_STATUSES = ("employed", "self-employed", "unemployed", "retired")
FEATURES = ("age", "income", "employment_status", "num_credit_cards")
NUMERIC_FEATURES = ("age", "income", "num_credit_cards")
CATEGORICAL_FEATURES = ("employment_status",)


def make_applications(rows: int = 2000, seed: int = 7) -> tuple[pd.DataFrame, pd.Series]:
    """Applicants and whether each defaulted; default risk rises with cards and unemployment."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 80, rows).round(0)
    income = rng.lognormal(mean=10.5, sigma=0.5, size=rows).round(2)
    status = rng.choice(EMPLOYMENT_STATUSES, size=rows, p=(0.6, 0.15, 0.1, 0.15))
    cards = rng.poisson(2.5, rows).astype("int64")
    logit = (-1.5 + 0.35 * cards - 0.00002 * income + 1.4 * (status == "unemployed")
             - 0.01 * (age - 40) + rng.normal(0, 0.5, rows))
    defaulted = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype("int64")
    frame = pd.DataFrame({
        "age": age.astype("float64"),
        "income": income.astype("float64"),
        "employment_status": pd.Series(status, dtype=object),
        "num_credit_cards": cards,
    })
    return frame, pd.Series(defaulted, name="defaulted")


def input_example() -> pd.DataFrame:
    """A few realistic rows, logged with the model and used by every gate and smoke test."""
    return pd.DataFrame({
        "age": [34.0, 52.0, 23.0],
        "income": [48000.0, 91000.0, 15500.0],
        "employment_status": pd.Series(["employed", "self-employed", "unemployed"], dtype=object),
        "num_credit_cards": pd.Series([2, 4, 7], dtype="int64"),
    })
