"""The image stage: preflight, the model's files and requirements, the build, the pipeline's own job image."""
