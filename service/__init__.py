"""The model server: an MLflow PyFunc model behind FastAPI under Gunicorn.

Nothing here reads the environment or loads a model at import time: `python -m service`
(`service/__main__.py`) reads the settings once and builds everything from them.
"""

__version__ = "0.1.0"
