"""The shared API kit: base view and permission, pagination, the error schema and filter
helpers, used by every app's API."""
