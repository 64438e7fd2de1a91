"""Django admin for the ingestion app: F1 data + sync runs (`data`), and the pipeline's models."""

from ingestion.admin import (
    data,  # noqa: F401
    pipeline,  # noqa: F401
)
