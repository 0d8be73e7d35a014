"""The AWS Glue engine: starting and stopping Glue job runs (engine), following them by
events and polls (tracking), the timeout backstop (timeouts), the run report the script
leaves in S3 (metrics) and the worker capacity rules (capacity)."""
