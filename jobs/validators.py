"""Field rules shared by every way a job is defined (API, admin, manage.py).

Each function raises django.core.exceptions.ValidationError with a message that
says what is wrong and what is accepted; DRF and admin forms both understand it.
"""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from typing import Any

import jsonschema
from django.core.exceptions import ValidationError

from etl.contract import ARGUMENT_PREFIX
from etl.spec.guards import json_depth

BUCKET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
PARAMETER_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$")
MAX_KEY_BYTES = 1024
MAX_PARAMETER_VALUE_CHARS = 4096
MAX_PARAMETERS = 100
MAX_SCHEMA_BYTES = 64 * 1024
MAX_SCHEMA_DEPTH = 20
# Glue's special parameters: every name AWS documents as one it interprets ("Using job
# parameters in AWS Glue jobs", the job parameter reference and its "never use" list,
# the Spark UI, shuffle, interactive-session and Ray pages) and the ones AWS's Glue
# library reads (awsglue/job.py, utils.py). A caller setting one would change what code
# runs, under which settings, or where its logs and data go.
GLUE_SPECIAL_PARAMETERS = (
    "additional-python-modules",
    "auto-scale-within-microbatch",
    "class",
    "conf",
    "continuation-option",
    "continuous-log-conversionPattern",
    "continuous-log-logGroup",
    "continuous-log-logStreamPrefix",
    "continuous-log-stream-prefix",
    "customer-driver-env-vars",
    "customer-executor-env-vars",
    "datalake-formats",
    "debug",
    "disable-proxy",
    "disable-proxy-v2",
    "enable-auto-scaling",
    "enable-continuous-cloudwatch-log",
    "enable-continuous-log-filter",
    "enable-data-lineage",
    "enable-glue-datacatalog",
    "enable-job-insights",
    "enable-lakeformation-fine-grained-access",
    "enable-metrics",
    "enable-observability-metrics",
    "enable-rename-algorithm-v2",
    "enable-s3-parquet-optimized-committer",
    "enable-spark-ui",
    "enable-spark-ui-legacy-path",
    "encryption-type",
    "endpoint",
    "executor-cores",
    "extra-files",
    "extra-jars",
    "extra-py-files",
    "glue_kernel_version",
    "JOB_ID",
    "JOB_NAME",
    "JOB_RUN_ID",
    "job-bookmark-from",
    "job-bookmark-option",
    "job-bookmark-to",
    "job-language",
    "logging_configuration",
    "mode",
    "pip-install",
    "python-modules-installer-option",
    "python-version",
    "RedshiftTempDir",
    "s3-py-modules",
    "scriptLocation",
    "SECURITY_CONFIGURATION",
    "shuffle-storage-path",
    "spark-event-logs-path",
    "spark-ui-event-logs-path",
    "TempDir",
    "use-postgres-driver",
    "user-jars-first",
    "WORKFLOW_NAME",
    "WORKFLOW_RUN_ID",
    "write-shuffle-files-to-s3",
    "write-shuffle-spills-to-s3",
)


def _folded(name: str) -> str:
    # Glue matches names as written; refusing case and _/- variants too leaves no near miss.
    return name.lower().replace("_", "-")


RESERVED_PARAMETER_NAMES = frozenset(_folded(name) for name in GLUE_SPECIAL_PARAMETERS)
# Families Glue extends release by release: a new member is refused before it is listed.
GLUE_SPECIAL_PREFIXES = ("continuous-log-", "enable-", "disable-", "job-bookmark-", "spark-")
RESERVED_PARAMETER_PREFIX = ARGUMENT_PREFIX.removeprefix(
    "--"
)  # parameters are named without dashes


def _has_control_chars(text: str) -> bool:
    return any(unicodedata.category(char) in {"Cc", "Cf"} for char in text)


def validate_bucket_name(name: str) -> None:
    """S3 general-purpose bucket naming rules."""
    if not BUCKET_NAME_RE.match(name):
        raise ValidationError(
            "Invalid bucket name %(name)r: 3-63 characters, lowercase letters, digits, "
            "dots and hyphens, starting and ending with a letter or digit.",
            code="invalid_bucket",
            params={"name": name[:80]},
        )
    if ".." in name or ".-" in name or "-." in name:
        raise ValidationError(
            "Invalid bucket name: no adjacent dots or dot-hyphen pairs.", code="invalid_bucket"
        )
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        raise ValidationError(
            "A bucket name cannot look like an IP address.", code="invalid_bucket"
        )
    if name.startswith(("xn--", "sthree-")) or name.endswith(("-s3alias", "--ol-s3")):
        raise ValidationError(
            "Bucket names cannot start with xn-- or sthree- or end with -s3alias or --ol-s3.",
            code="invalid_bucket",
        )


def validate_key_prefix(prefix: str, *, label: str = "prefix") -> None:
    """An S3 key prefix or suffix: bounded, printable, no path traversal segments."""
    if len(prefix.encode()) > MAX_KEY_BYTES:
        raise ValidationError(f"The {label} is longer than {MAX_KEY_BYTES} bytes.", code="too_long")
    if _has_control_chars(prefix):
        raise ValidationError(f"The {label} contains control characters.", code="invalid")
    if any(segment in {".", ".."} for segment in prefix.split("/")):
        raise ValidationError(f"The {label} cannot contain '.' or '..' segments.", code="invalid")


def split_s3_uri(uri: str) -> tuple[str, str]:
    """Validate `s3://bucket/prefix` and return (bucket, prefix)."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValidationError("Expected an S3 URI like s3://bucket/prefix/.", code="invalid_uri")
    if "?" in uri or "#" in uri:
        # URL parsing (the ETL's and S3 clients') would cut the URI there: data would go
        # to, or come from, a shorter prefix than the one shown.
        raise ValidationError(
            "An S3 URI cannot contain '?' or '#': they would cut it short.", code="invalid_uri"
        )
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    validate_bucket_name(bucket)
    validate_key_prefix(prefix)
    return bucket, prefix


def validate_s3_uri(uri: str) -> None:
    split_s3_uri(uri)


def normalize_parameter_name(name: str) -> str:
    """Parameters may be written `--name` (as Glue shows them) or `name`; we store `name`."""
    return name[2:] if name.startswith("--") else name


def _is_special(name: str) -> bool:
    lowered = name.lower()
    return (
        lowered.startswith((RESERVED_PARAMETER_PREFIX, *GLUE_SPECIAL_PREFIXES))
        or _folded(name) in RESERVED_PARAMETER_NAMES
    )


def validate_parameter_name(name: str) -> None:
    """Glue argument names: a letter, then letters, digits, `_`, `.`, `-`; not reserved."""
    if not PARAMETER_NAME_RE.match(name):
        raise ValidationError(
            "Invalid parameter name %(name)r: start with a letter, then up to 127 letters, "
            "digits, '_', '.' or '-'.",
            code="invalid_parameter_name",
            params={"name": name[:80]},
        )
    if _is_special(name):
        raise ValidationError(
            "Parameter name %(name)r is reserved: one of AWS Glue's special parameters "
            "(they change what code runs and how) or DIEP's own --diep_* arguments.",
            code="reserved_parameter_name",
            params={"name": name},
        )
    validate_not_secret_name(name)


def validate_parameter_value(value: Any) -> None:
    if not isinstance(value, str):
        raise ValidationError("Parameter values must be strings.", code="invalid_parameter_value")
    if len(value) > MAX_PARAMETER_VALUE_CHARS:
        raise ValidationError(
            f"Parameter values are limited to {MAX_PARAMETER_VALUE_CHARS} characters.",
            code="too_long",
        )
    if any(unicodedata.category(char) == "Cc" and char not in "\t\n" for char in value):
        raise ValidationError("Parameter values cannot contain control characters.", code="invalid")


def clean_parameters(raw: Any) -> dict[str, str]:
    """Validate a parameters mapping and return it with normalised names.

    Raises ValidationError with a dict of per-parameter messages.
    """
    if not isinstance(raw, dict):
        raise ValidationError("Expected an object mapping parameter names to string values.")
    if len(raw) > MAX_PARAMETERS:
        raise ValidationError(f"At most {MAX_PARAMETERS} parameters.", code="too_many")
    cleaned: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for raw_name, value in raw.items():
        name = normalize_parameter_name(str(raw_name))
        try:
            validate_parameter_name(name)
            validate_parameter_value(value)
        except ValidationError as exc:
            errors[str(raw_name)[:130]] = exc.messages
            continue
        if name in cleaned:
            errors[str(raw_name)[:130]] = ["Given twice (with and without the leading --)."]
        cleaned[name] = value
    if errors:
        raise ValidationError(errors)
    return cleaned


def _external_refs(value: Any) -> list[str]:
    refs, stack = [], [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, child in node.items():
                if key in {"$ref", "$dynamicRef"} and not (
                    isinstance(child, str) and child.startswith("#")
                ):
                    refs.append(str(child)[:100])
                stack.append(child)
        elif isinstance(node, list):
            stack.extend(node)
    return refs


def validate_parameters_schema(schema: Any) -> None:
    """A bounded, self-contained JSON Schema (Draft 2020-12) describing an object."""
    if not isinstance(schema, dict):
        raise ValidationError("parameters_schema must be a JSON object (a JSON Schema).")
    if not schema:
        return
    # Depth first: serialising a hostile, deeply nested schema would exhaust the stack.
    if json_depth(schema, MAX_SCHEMA_DEPTH) > MAX_SCHEMA_DEPTH:
        raise ValidationError(f"parameters_schema is nested deeper than {MAX_SCHEMA_DEPTH} levels.")
    if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
        raise ValidationError(f"parameters_schema is larger than {MAX_SCHEMA_BYTES} bytes.")
    if refs := _external_refs(schema):
        raise ValidationError(
            "parameters_schema may only use local references ($ref starting with '#'); got "
            + ", ".join(refs)
        )
    if schema.get("type", "object") != "object":
        raise ValidationError("parameters_schema must describe an object (type: object).")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        path = "/".join(str(part) for part in exc.absolute_path) or "(root)"
        raise ValidationError(f"Not a valid JSON Schema at {path}: {exc.message}") from exc
    properties = schema.get("properties", {})
    special = sorted(
        str(name) for name in properties if _is_special(normalize_parameter_name(str(name)))
    )
    if special:
        # Declaring a name does not make it a plain parameter: Glue would still obey it.
        raise ValidationError(
            "parameters_schema declares Glue's special or DIEP's own parameters: "
            + ", ".join(special[:10])
        )


def schema_errors(schema: dict[str, Any], instance: dict[str, str]) -> dict[str, list[str]]:
    """Messages per parameter for `instance` against `schema` (empty when valid)."""
    if not schema:
        return {}
    errors: dict[str, list[str]] = {}
    validator = jsonschema.Draft202012Validator(schema)
    for error in validator.iter_errors(instance):
        key = ".".join(str(part) for part in error.absolute_path) or "parameters"
        errors.setdefault(key, []).append(error.message[:500])
    return errors


_SECRET_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "apikey",
    "api_key",
    "access_key",
    "private_key",
)
_REFERENCE_SUFFIXES = ("_arn", "_ref", "_secret_id", "_parameter_name")


def validate_not_secret_name(name: str) -> None:
    """Glue arguments are visible to anyone who can read the job run, so secrets stay out.

    A parameter may *point* at a secret (`db_password_secret_arn`), never carry one.
    """
    lowered = name.lower()
    if any(word in lowered for word in _SECRET_WORDS) and not lowered.endswith(_REFERENCE_SUFFIXES):
        raise ValidationError(
            "Parameter %(name)r looks like a secret; Glue arguments are readable by anyone "
            "who can see the run. Pass a reference instead (a name ending in _arn, _ref or "
            "_secret_id, resolved by the job).",
            code="secret_parameter",
            params={"name": name},
        )
