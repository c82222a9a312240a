"""The production guide's wrapper (shipped with the model through `code_path`): scaler + classifier
artifacts loaded with joblib, one `{"score", "risk_level", "timestamp"}` per row under "predictions".

`timestamp` is the time of the prediction, so two calls never answer the same: a deployment gate must
leave it out of its comparison. Imported as the top-level module `risk_model`, as it is when served.
"""
from datetime import datetime, timezone

import joblib
import mlflow.pyfunc

FEATURES = ["age", "income", "debt_ratio", "num_accounts"]


def risk_level(score):
    return "high" if score >= 0.66 else "medium" if score >= 0.33 else "low"


class RiskModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.scaler = joblib.load(context.artifacts["scaler"])
        self.classifier = joblib.load(context.artifacts["classifier"])

    def predict(self, context, model_input, params=None):
        scores = self.classifier.predict_proba(self.scaler.transform(model_input[FEATURES]))[:, 1]
        now = datetime.now(timezone.utc).isoformat()
        return {"predictions": [
            {"score": round(float(score), 6), "risk_level": risk_level(score), "timestamp": now}
            for score in scores]}
