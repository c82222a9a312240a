"""The seams to services outside: Kubernetes (and its API versions), MLflow, GitLab, the artifact store."""
