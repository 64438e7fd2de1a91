"""Django admin for the ingestion app: F1 data + sync runs (`data`), the pipeline's models, and
django-axes' access attempts with their action gated (`lockouts`)."""

from ingestion.admin import (
    data,  # noqa: F401
    lockouts,  # noqa: F401
    pipeline,  # noqa: F401
)
