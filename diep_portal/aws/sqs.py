"""SQS hooks: batch receive, batch delete and visibility for the ingestion consumer;
queues and their attributes for provisioning."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from diep_portal.aws.errors import translate_aws_errors
from diep_portal.aws.session import get_client
from diep_portal.exceptions import PermanentAwsError

# AWS's query protocol and its JSON protocol (and moto) name a missing queue differently.
_NO_SUCH_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


@dataclass(frozen=True)
class SqsMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    sent_at_ms: int | None


def sqs_queue_url(*, queue_name: str) -> str:
    """The URL of a queue by name."""
    with translate_aws_errors("sqs", "GetQueueUrl"):
        return str(get_client("sqs").get_queue_url(QueueName=queue_name)["QueueUrl"])


def sqs_receive(
    *,
    queue_url: str,
    max_messages: int = 10,
    wait_seconds: int = 20,
    visibility_timeout: int | None = None,
) -> list[SqsMessage]:
    """One long-poll ReceiveMessage (up to 10 messages), with receive counts."""
    request: dict[str, Any] = {
        "QueueUrl": queue_url,
        "MaxNumberOfMessages": max(1, min(max_messages, 10)),
        "WaitTimeSeconds": wait_seconds,
        "MessageSystemAttributeNames": ["ApproximateReceiveCount", "SentTimestamp"],
    }
    if visibility_timeout is not None:
        request["VisibilityTimeout"] = visibility_timeout
    with translate_aws_errors("sqs", "ReceiveMessage"):
        response = get_client("sqs").receive_message(**request)
    messages = []
    for raw in response.get("Messages", []):
        attributes = raw.get("Attributes", {})
        sent = attributes.get("SentTimestamp")
        messages.append(
            SqsMessage(
                message_id=raw["MessageId"],
                receipt_handle=raw["ReceiptHandle"],
                body=raw.get("Body", ""),
                receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
                sent_at_ms=int(sent) if sent else None,
            )
        )
    return messages


def sqs_delete_batch(*, queue_url: str, receipt_handles: Sequence[str]) -> list[str]:
    """DeleteMessageBatch in chunks of 10; returns the handles SQS failed to delete."""
    failed: list[str] = []
    client = get_client("sqs")
    for start in range(0, len(receipt_handles), 10):
        chunk = list(receipt_handles[start : start + 10])
        entries = [{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(chunk)]
        with translate_aws_errors("sqs", "DeleteMessageBatch"):
            response = client.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        failed.extend(chunk[int(item["Id"])] for item in response.get("Failed", []))
    return failed


def sqs_extend_visibility(*, queue_url: str, receipt_handles: Sequence[str], seconds: int) -> None:
    """Keep messages hidden while a long batch is still being processed."""
    client = get_client("sqs")
    for start in range(0, len(receipt_handles), 10):
        chunk = receipt_handles[start : start + 10]
        entries = [
            {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": seconds}
            for i, h in enumerate(chunk)
        ]
        with translate_aws_errors("sqs", "ChangeMessageVisibilityBatch"):
            client.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


def sqs_send(*, queue_url: str, body: str) -> str:
    """SendMessage; the message id."""
    with translate_aws_errors("sqs", "SendMessage"):
        return str(
            get_client("sqs").send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"]
        )


def sqs_queue_arn(*, queue_url: str) -> str:
    """The queue's ARN."""
    with translate_aws_errors("sqs", "GetQueueAttributes"):
        attributes = get_client("sqs").get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]
    return str(attributes["QueueArn"])


def sqs_depth(*, queue_url: str) -> int:
    """Messages waiting plus in flight (approximate, as SQS reports)."""
    with translate_aws_errors("sqs", "GetQueueAttributes"):
        attributes = get_client("sqs").get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
    return sum(int(value) for value in attributes.values())


def sqs_start_move_task(*, source_arn: str) -> None:
    """StartMessageMoveTask: SQS moves a DLQ's messages back to their source queue."""
    with translate_aws_errors("sqs", "StartMessageMoveTask"):
        get_client("sqs").start_message_move_task(SourceArn=source_arn)


def sqs_get_queue_attributes(*, queue_name: str) -> dict[str, str] | None:
    """All attributes of a queue by name (strings, as SQS reports them); None when the
    queue does not exist."""
    client = get_client("sqs")
    try:
        with translate_aws_errors("sqs", "GetQueueUrl"):
            url = client.get_queue_url(QueueName=queue_name)["QueueUrl"]
    except PermanentAwsError as exc:
        if exc.code in _NO_SUCH_QUEUE_CODES:
            return None
        raise
    with translate_aws_errors("sqs", "GetQueueAttributes"):
        attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    return {str(k): str(v) for k, v in attributes.get("Attributes", {}).items()}


def sqs_create_queue(*, queue_name: str, attributes: Mapping[str, str]) -> None:
    """CreateQueue with these attributes (an existing queue with other values is an
    error on AWS: read first)."""
    with translate_aws_errors("sqs", "CreateQueue"):
        get_client("sqs").create_queue(QueueName=queue_name, Attributes=dict(attributes))


def sqs_set_queue_attributes(*, queue_url: str, attributes: Mapping[str, str]) -> None:
    """SetQueueAttributes: the given attributes change, the others stay as they are."""
    with translate_aws_errors("sqs", "SetQueueAttributes"):
        get_client("sqs").set_queue_attributes(QueueUrl=queue_url, Attributes=dict(attributes))
