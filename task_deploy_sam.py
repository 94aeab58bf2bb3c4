"""The AWS SAM writer of task_deploy: a Deployment as a template for its function and triggers.

Each trigger is one method of `_Sam` that adds its event, resources and
outputs; all triggers serve one function, so their events merge.
"""

from __future__ import annotations

import re

from task_deploy_formats import header_lines, to_yaml

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from task_deploy import Delivery, Deployment

__all__ = ["STREAM_RETRIES", "sam_template"]

#: How often Lambda retries a failed stream record before it sends its position to the failure queue.
STREAM_RETRIES = 2

_ASYNC_TRIGGERS = ("direct", "sns", "eventbridge")
_ARN_PREFIX = "arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:"
_POST = "POST a JSON object of parameters (IAM-signed)."
_SEND = "Send one JSON object of parameters per message."


def _logical(text: str) -> str:
    """A CloudFormation logical id from a name: its letters and digits, first letter upper-case."""
    words = re.split(r"[^A-Za-z0-9]+", text)
    return "".join(word[:1].upper() + word[1:] for word in words)


def _get_att(resource: str, attribute: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [resource, attribute]}


def _sub(text: str) -> dict[str, Any]:
    return {"Fn::Sub": text}


def _encrypted_queue(**properties: Any) -> dict[str, Any]:
    return {"Type": "AWS::SQS::Queue", "Properties": {**properties, "SqsManagedSseEnabled": True}}


class _Sam:
    """One SAM template being built: each trigger adds its event, resources and outputs."""

    def __init__(self, deployment: Deployment, code_uri: str) -> None:
        self.deployment = deployment
        self.base = _logical(deployment.class_name)
        self.function_id = f"{self.base}Function"
        self.parameters: dict[str, Any] = {}
        self.resources: dict[str, Any] = {}
        self.outputs: dict[str, Any] = {
            "FunctionArn": self._output("The function.", _get_att(self.function_id, "Arn"))
        }
        self.events: dict[str, Any] = {}
        self.function: dict[str, Any] = {
            "Description": f"Runs the task {deployment.task} once per unit of work of each trigger.",
            "CodeUri": code_uri,
            "Handler": deployment.handler,
            "Runtime": deployment.runtime,
            "Architectures": ["arm64"],  # pure Python: it runs on either
            "MemorySize": 128,
            "Timeout": 30,
            # The library logs one INFO record per unit of work through the runtime client's
            # handlers; with the text format and no level they would be dropped at WARNING.
            "LoggingConfig": {"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN"},
        }

    @staticmethod
    def _output(description: str, value: Any) -> dict[str, Any]:
        return {"Description": description, "Value": value}

    def template(self) -> dict[str, Any]:
        self._secrets()
        for trigger in self.deployment.triggers:
            getattr(self, f"_{trigger.replace('-', '_')}")()
        if any(trigger in _ASYNC_TRIGGERS for trigger in self.deployment.triggers):
            self._async_failures()
        if self.events:
            self.function["Events"] = self.events
        template: dict[str, Any] = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Transform": "AWS::Serverless-2016-10-31",
            "Description": f"The task {self.deployment.task} on AWS Lambda, triggered by "
            f"{', '.join(self.deployment.triggers)}.",
        }
        if self.parameters:
            template["Parameters"] = self.parameters
        template["Resources"] = {
            self.function_id: {"Type": "AWS::Serverless::Function", "Properties": self.function}
        }
        template["Resources"].update(self.resources)
        template["Outputs"] = self.outputs
        return template

    # Secrets: env: from a dynamic reference at deploy time; secret: and ssm: by the task at run
    # time, through the extension, with read permission on exactly those ids.
    def _secrets(self) -> None:
        variables: dict[str, Any] = {}
        env = self.deployment.delivered("env")
        if env:
            variables["TASK_ENV_REFS"] = ",".join(delivery.allowed_reference for delivery in env)
        for delivery in env:
            parameter = f"{_logical(delivery.parameter)}SecretId"
            self.parameters[parameter] = {
                "Type": "String",
                "Default": f"{self.deployment.name}/{delivery.parameter}",
                "Description": f"Secrets Manager secret (name or ARN) whose SecretString is the parameter "
                f"{delivery.parameter}; CloudFormation resolves it into {delivery.id} at deploy time.",
            }
            variables[delivery.id] = _sub(f"{{{{resolve:secretsmanager:${{{parameter}}}:SecretString}}}}")
        stores = self.deployment.delivered("secret", "ssm")
        if stores:
            variables["TASK_SECRET_REFS"] = ",".join(delivery.allowed_reference for delivery in stores)
            self.parameters["SecretsExtensionLayerArn"] = {
                "Type": "String",
                "AllowedPattern": r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+",
                "Description": "The AWS Parameters and Secrets Lambda Extension's arm64 layer for the "
                "stack's region, as AWS lists it: "
                "arn:aws:lambda:REGION:ACCOUNT:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:N.",
            }
            self.function["Layers"] = [{"Ref": "SecretsExtensionLayerArn"}]
            self.function["Policies"] = [{"Statement": [_read_statement(delivery) for delivery in stores]}]
        if variables:
            self.function["Environment"] = {"Variables": variables}

    def _direct(self) -> None:
        """Direct invokes and Step Functions need no event; an asynchronous invoke gets the retry rules."""

    def _http(self) -> None:
        api = f"{self.base}HttpApi"
        path = f"/{self.deployment.name}"
        self.events["Http"] = {
            "Type": "HttpApi",
            "Properties": {"ApiId": {"Ref": api}, "Path": path, "Method": "POST"},
        }
        # IAM-signed requests only: an invoker chooses the parameters the task uses its secrets with.
        self.resources[api] = {
            "Type": "AWS::Serverless::HttpApi",
            "Properties": {"Auth": {"EnableIamAuthorizer": True, "DefaultAuthorizer": "AWS_IAM"}},
        }
        url = f"https://${{{api}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}{path}"
        self.outputs["HttpEndpoint"] = self._output(
            "POST a JSON object of parameters (IAM-signed).", _sub(url)
        )

    def _url(self) -> None:
        self.function["FunctionUrlConfig"] = {"AuthType": "AWS_IAM"}
        self.outputs["FunctionUrl"] = self._output(
            "POST a JSON object of parameters (IAM-signed).",
            _get_att(f"{self.function_id}Url", "FunctionUrl"),
        )

    def _queue(self, event: str, queue: str, **fifo: Any) -> None:
        dead_letters = f"{queue[: -len('Queue')]}DeadLetterQueue"
        self.events[event] = {
            "Type": "SQS",
            "Properties": {
                "Queue": _get_att(queue, "Arn"),
                "BatchSize": 10,
                # Only the records the handler lists return to the queue; without this setting
                # Lambda ignores the list and deletes the whole batch.
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            },
        }
        # Visibility: six times the function's timeout, as AWS advises; five receives before the
        # dead-letter queue (AWS advises at least 5, so that throttling does not send records there).
        redrive = {"deadLetterTargetArn": _get_att(dead_letters, "Arn"), "maxReceiveCount": 5}
        self.resources[queue] = _encrypted_queue(**fifo, VisibilityTimeout=180, RedrivePolicy=redrive)
        self.resources[dead_letters] = _encrypted_queue(**fifo, MessageRetentionPeriod=1209600)
        self.outputs[f"{event}Url"] = self._output(
            "Send one JSON object of parameters per message.", {"Ref": queue}
        )
        self.outputs[f"{event[: -len('Queue')]}DeadLetterQueueUrl"] = self._output(
            "Records that failed five receives.", {"Ref": dead_letters}
        )

    def _sqs(self) -> None:
        self._queue("Queue", f"{self.base}Queue")

    def _sqs_fifo(self) -> None:
        self._queue("FifoQueue", f"{self.base}FifoQueue", FifoQueue=True, ContentBasedDeduplication=True)

    def _sns(self) -> None:
        topic = f"{self.base}Topic"
        self.events["Topic"] = {"Type": "SNS", "Properties": {"Topic": {"Ref": topic}}}
        self.resources[topic] = {"Type": "AWS::SNS::Topic"}
        self.outputs["TopicArn"] = self._output(
            "Publish one JSON object of parameters per message.", {"Ref": topic}
        )

    def _eventbridge(self) -> None:
        pattern = {
            "source": [f"{self.deployment.name}.app"],
            "detail-type": [f"{self.deployment.class_name} task"],
        }
        self.events["Bus"] = {"Type": "EventBridgeRule", "Properties": {"Pattern": pattern}}

    def _stream(self, event: str, event_type: str, stream: dict[str, Any]) -> None:
        self.events[event] = {
            "Type": event_type,
            "Properties": {
                "Stream": stream,
                "StartingPosition": "TRIM_HORIZON",
                "BatchSize": 10,
                # The handler lists the first failed record: Lambda retries from it, in order.
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "MaximumRetryAttempts": STREAM_RETRIES,
                "BisectBatchOnFunctionError": True,
                # What a stream's failure destination gets is the failed records' position, not
                # their data: read them from the stream before it expires.
                "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": self._failures_queue()}},
            },
        }

    def _kinesis(self) -> None:
        stream = f"{self.base}Stream"
        self.resources[stream] = {
            "Type": "AWS::Kinesis::Stream",
            "Properties": {
                "StreamModeDetails": {"StreamMode": "ON_DEMAND"},
                "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
            },
        }
        self._stream("Stream", "Kinesis", _get_att(stream, "Arn"))
        self.outputs["StreamName"] = self._output(
            "Put one JSON object of parameters per record.", {"Ref": stream}
        )

    def _dynamodb(self) -> None:
        table = f"{self.base}Table"
        self.resources[table] = {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
                "SSESpecification": {"SSEEnabled": True},
            },
        }
        self._stream("Table", "DynamoDB", _get_att(table, "StreamArn"))
        self.outputs["TableName"] = self._output(
            "Put one item per unit of work: its attributes but the key id are the parameters.", {"Ref": table}
        )

    def _failures_queue(self) -> dict[str, Any]:
        """The on-failure destination of asynchronous events and stream records (kept 14 days)."""
        self.resources["FailedEventsQueue"] = _encrypted_queue(MessageRetentionPeriod=1209600)
        self.outputs["FailedEventsQueueUrl"] = self._output(
            "Asynchronous events and stream records that failed every attempt.", {"Ref": "FailedEventsQueue"}
        )
        return _get_att("FailedEventsQueue", "Arn")

    def _async_failures(self) -> None:
        # Lambda retries any error of an asynchronous invoke, a ConfigError included: one retry rides
        # out a brief outage and costs a configuration error one wasted run; then the on-failure queue.
        self.function["EventInvokeConfig"] = {
            "MaximumRetryAttempts": 1,
            "MaximumEventAgeInSeconds": 3600,
            "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": self._failures_queue()}},
        }


def _read_statement(delivery: Delivery) -> dict[str, Any]:
    """Permission to read exactly this secret (any version suffix) or parameter."""
    if delivery.kind == "secret":
        action = "secretsmanager:GetSecretValue"
        arn = (
            "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
            + delivery.id
            + "-??????"
        )
    else:
        action = "ssm:GetParameter"
        arn = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/" + delivery.id.lstrip(
            "/"
        )
    resource: Any = delivery.id if delivery.id.startswith("arn:") else _sub(arn)
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def sam_template(deployment: Deployment, *, code_uri: str) -> str:
    """The AWS SAM template: the function, each trigger's event and resources, the secrets' wiring."""
    header = [
        *header_lines(deployment, "An AWS SAM template"),
        f"CodeUri, relative to this file, is what `python{deployment.runtime[6:]} -m task_deploy zip "
        f"--handler {deployment.handler}` builds.",
    ]
    return to_yaml(_Sam(deployment, code_uri).template(), header)
