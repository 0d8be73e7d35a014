"""The Spark engine: the job spec compiled to Spark DataFrame operations, for AWS Glue.

The same EtlRequest, spec validation, value semantics (etl.semantics), publish step
(etl.publish) and metrics document as the pyarrow engine (etl.run); only the data path
differs, and it stays on the executors: the driver sees file lists, counts, aggregates
and at most MAX_REJECT_SAMPLES rejected values, never the rows.
"""
