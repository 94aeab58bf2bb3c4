"""The answer to an HTTP request (API Gateway REST and HTTP APIs, function URLs, load balancers): a
status, headers and the result or the error as a JSON body. task_lambda runs the request's task here.
"""

from __future__ import annotations

from task import ConfigError, Stopped, StoreUnavailable, shown
from task_lambda import layer_fields, logger
from task_sources import encode_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from task import LambdaTask

__all__ = ["http_response"]

#: A load balancer's statusDescription for each status this layer answers.
STATUS_TEXT = {
    200: "200 OK",
    400: "400 Bad Request",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}


def http_response(task: LambdaTask, event: dict[str, object], *, alb: bool) -> dict[str, object]:
    """Run the task of a request, and answer it: 200 and the result; 400 for a ConfigError; 503 for
    StoreUnavailable; 500 for any other failure, or a result JSON cannot send (encode_json())."""
    try:
        result = task.run()
    except ConfigError as error:
        return _answer(400, {"errorType": type(error).__name__, "errorMessage": str(error)}, event, alb)
    except StoreUnavailable as error:  # worth retrying: the message names the store, not the secret
        return _answer(503, {"errorType": type(error).__name__, "errorMessage": str(error)}, event, alb)
    except Stopped:
        raise
    except BaseException:  # run() logged it, traceback and all; the caller learns nothing of it
        return _answer(500, _internal_error(task), event, alb)
    try:
        return _answer(200, result, event, alb)
    except ValueError as error:  # run() logged "ok", but the result cannot be sent: the unit failed
        logger.error(
            "%s: the result is not JSON (%s), so the request was answered 500",
            task.name,
            shown(str(error), limit=200),
            extra=layer_fields(task, "failed"),
        )
        return _answer(500, _internal_error(task), event, alb)


def _internal_error(task: LambdaTask) -> dict[str, object]:
    """A 500's body: nothing of what went wrong, only where the function's log has it."""
    return {
        "errorMessage": "internal error: the function's log says why",
        "requestId": getattr(task.context, "aws_request_id", None),
    }


def _answer(status: int, body: object, event: dict[str, object], alb: bool) -> dict[str, object]:
    """The response to a request: `body` as strict JSON (encode_json() says what it refuses)."""
    response: dict[str, object] = {"statusCode": status}
    if alb:
        response["statusDescription"] = STATUS_TEXT[status]
    if alb and "multiValueHeaders" in event:  # the target group has multi-value headers on
        response["multiValueHeaders"] = {"Content-Type": ["application/json"]}
    else:
        response["headers"] = {"Content-Type": "application/json"}
    response["body"] = encode_json(body)
    response["isBase64Encoded"] = False
    return response
