"""Put this directory on PYTHONPATH to run Python as if the OpenTelemetry OTLP exporter were not
installed (`opentelemetry.exporter` cannot be imported): how the tests and `benchmarks.serving` show
the service with an OTLP endpoint set but no SDK to export with. MLflow 3 needs the OpenTelemetry API
and SDK themselves, so those stay importable."""
import sys


class _WithoutOtelExporter:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry.exporter" or name.startswith("opentelemetry.exporter."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _WithoutOtelExporter())
