"""Gates between build and deploy. Each gate is a function that returns a `GateResult` (it never raises
for a failed check); `ci.gates.record` writes every gate's reports, registry tags and merge-request
note the same way.

- `load`: the exact image starts shaped like a pod, its model loads, answers like the model itself.
- `signature`: the candidate keeps the contract the live model's clients rely on.
- `latency`: the candidate meets the latency, error-rate and throughput thresholds under Locust.
"""
