"""The container writers of task_deploy, and the YAML they and the SAM writer (task_deploy_sam) write.

`batch_job_definition()` (AWS Batch's RegisterJobDefinition input, JSON)
and `k8s_job()` (a Kubernetes Indexed Job, YAML) format a Deployment and
decide nothing else. YAML is written by `to_yaml()`, a small deterministic subset
(block mappings and sequences, JSON-quoted strings), so that the library
needs no YAML package; any YAML parser reads it.
"""

from __future__ import annotations

import json
import posixpath
import re

from task_deploy import CONFIG_DIR

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any

    from task_deploy import Delivery, Deployment

__all__ = [
    "batch_job_definition",
    "header_lines",
    "k8s_job",
    "to_yaml",
]

#: Where the Batch image keeps the TinyDB file (deploy/Dockerfile copies it there).
BATCH_CONFIG_DB = "/app/tasks.json"
#: Placeholders a user replaces (docs/deploy.md says where).
ACCOUNT = "123456789012"
REGION = "us-east-1"

_YAML_PLAIN_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_YAML_WORDS = frozenset({"yes", "no", "on", "off", "true", "false", "null", "y", "n"})


# --- YAML -------------------------------------------------------------------------------------


def to_yaml(document: dict[str, Any], header: Sequence[str] = ()) -> str:
    """`document` (JSON's types only) as block-style YAML, after a comment line per header line."""
    lines = [f"# {line}" for line in header]
    lines.extend(_yaml_lines(document, 0))
    return "\n".join(lines) + "\n"


def _yaml_key(key: str) -> str:
    plain = _YAML_PLAIN_KEY.fullmatch(key) and key.lower() not in _YAML_WORDS
    return key if plain else _yaml_scalar(key)


def _yaml_scalar(value: object) -> str:
    """A scalar, a list of scalars or an empty mapping, as YAML reads it back: strings double-quoted,
    printable ASCII as it is, any other character escaped (beyond U+FFFF as \\U, which JSON lacks)."""
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_scalar(item) for item in value) + "]"
    if not isinstance(value, str):
        return json.dumps(value)
    return '"' + "".join(_yaml_character(character) for character in value) + '"'


def _yaml_character(character: str) -> str:
    if " " <= character <= "~":
        return "\\" + character if character in '"\\' else character
    code = ord(character)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _is_block(value: object) -> bool:
    """Whether a value takes lines of its own: a mapping, or a list holding one (a list of scalars,
    like an empty mapping, is written as JSON, which YAML reads as a flow collection)."""
    if isinstance(value, dict):
        return bool(value)
    return isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value)


def _yaml_lines(value: object, indent: int) -> Iterator[str]:
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            if _is_block(item):
                yield f"{pad}{_yaml_key(key)}:"
                yield from _yaml_lines(item, indent + 2)
            else:
                yield f"{pad}{_yaml_key(key)}: {_yaml_scalar(item)}"
    else:
        assert isinstance(value, list)
        for item in value:
            if _is_block(item):
                first, *rest = _yaml_lines(item, indent + 2)
                yield f"{pad}- {first[indent + 2 :]}"
                yield from rest
            else:
                yield f"{pad}- {_yaml_scalar(item)}"


def header_lines(deployment: Deployment, what: str) -> list[str]:
    return [f"{what} for the task {deployment.task}, as `python -m task_deploy` wrote it: change it there."]


# --- AWS Batch --------------------------------------------------------------------------------


def batch_job_definition(deployment: Deployment, *, image: str) -> str:
    """RegisterJobDefinition's input, as JSON: `task-run MODULE:NAME` on Fargate, exit 2 never retried."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", deployment.name)[:128]
    container: dict[str, Any] = {
        "image": image,
        "command": ["task-run", deployment.task],
        "environment": [
            {"name": "TASK_CONFIG_DB", "value": BATCH_CONFIG_DB},
            {"name": "TASK_CONFIG_KEY", "value": deployment.name},
            {"name": "TASK_CONFIG_MAX_BYTES", "value": "67108864"},
            {"name": "TASK_LOG_LEVEL", "value": "INFO"},
        ],
    }
    env = deployment.delivered("env")
    secrets_arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
    if env:
        # Batch reads these with the execution role and sets the variables before the task starts.
        container["secrets"] = [
            {
                "name": delivery.id,
                "valueFrom": f"{secrets_arn}{deployment.name}/{delivery.parameter}",
            }
            for delivery in env
        ]
    container["executionRoleArn"] = f"arn:aws:iam::{ACCOUNT}:role/{name}-batch-execution"
    if deployment.delivered("secret", "ssm"):
        # The task reads these itself (botocore, the extra aws) with the job's role.
        container["jobRoleArn"] = f"arn:aws:iam::{ACCOUNT}:role/{name}-batch-job"
    container["resourceRequirements"] = [
        {"type": "VCPU", "value": "0.5"},
        {"type": "MEMORY", "value": "2048"},
    ]
    container["readonlyRootFilesystem"] = True
    definition = {
        "jobDefinitionName": name,
        "type": "container",
        "platformCapabilities": ["FARGATE"],
        "containerProperties": container,
        # Batch retries whatever no rule matches, so exit 2 (a configuration error) is named.
        "retryStrategy": {
            "attempts": 3,
            "evaluateOnExit": [{"onExitCode": "2", "action": "EXIT"}, {"onReason": "*", "action": "RETRY"}],
        },
        "timeout": {"attemptDurationSeconds": 900},
    }
    return json.dumps(definition, indent=2) + "\n"


# --- Kubernetes -------------------------------------------------------------------------------


def _k8s_name(text: str) -> str:
    """A Kubernetes object name (RFC 1123 label) from a task's name."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:50] or "task"


def k8s_job(deployment: Deployment, *, image: str, completions: int) -> str:
    """A Kubernetes Indexed Job: one pod per index, exit 2 fails that index at once, others retried."""
    name = _k8s_name(deployment.name)
    secret_name = f"{name}-secrets"
    env: list[dict[str, Any]] = [
        {"name": "TASK_CONFIG_DB", "value": f"{CONFIG_DIR}/tasks.json"},
        {"name": "TASK_CONFIG_KEY", "value": deployment.name},
        {"name": "TASK_LOG_LEVEL", "value": "INFO"},
    ]
    env.extend(
        {"name": delivery.id, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": delivery.parameter}}}
        for delivery in deployment.delivered("env")
    )
    mounts = [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}]
    volumes: list[dict[str, Any]] = [{"name": "config", "configMap": {"name": f"{name}-config"}}]
    # file: deliveries, one Secret volume per directory, each key at the path the reference names.
    directories: dict[str, list[Delivery]] = {}
    for delivery in deployment.delivered("file"):
        directories.setdefault(posixpath.dirname(delivery.id), []).append(delivery)
    for number, (directory, deliveries) in enumerate(directories.items(), start=1):
        volume = f"secrets-{number}"
        mounts.append({"name": volume, "mountPath": directory, "readOnly": True})
        items = [{"key": d.parameter, "path": posixpath.basename(d.id)} for d in deliveries]
        volumes.append({"name": volume, "secret": {"secretName": secret_name, "items": items}})
    container = {
        "name": "task",
        "image": image,
        "command": ["task-run", deployment.task],
        "env": env,
        "volumeMounts": mounts,
        # nobody: the kubelet can check runAsNonRoot only against a numeric user.
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 65534,
        },
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": name}},
        "spec": {
            "completionMode": "Indexed",
            "completions": completions,
            "parallelism": min(completions, 10),
            # Three attempts per index, as the Batch job; each index counts its own.
            "backoffLimitPerIndex": 2,
            "podFailurePolicy": {
                "rules": [
                    # A configuration error: the same document fails the same way; the other
                    # indices go on.
                    {
                        "action": "FailIndex",
                        "onExitCodes": {"containerName": "task", "operator": "In", "values": [2]},
                    },
                    # An evicted or preempted pod is not the task's failure: run it again, uncounted.
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                ]
            },
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": name}},
                "spec": {"restartPolicy": "Never", "containers": [container], "volumes": volumes},
            },
        },
    }
    header = [
        *header_lines(deployment, "A Kubernetes Indexed Job"),
        f"It needs the ConfigMap {name}-config (key tasks.json: the TinyDB file)"
        + (f" and the Secret {secret_name} (a key per secret parameter)." if deployment.deliveries else "."),
    ]
    return to_yaml(job, header)
