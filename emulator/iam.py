"""IAM on the emulator: every request runs as someone, and what their policies do not allow fails.

Who calls: a handler runs with its own function role's credentials (Lambda gives it those), the
SQS event source with the converter's role (AWS polls with the function's execution role), moto's
Step Functions engine with the state machine's role, and everything else (the local run, the
tests) as an operator with an allow-all policy. The roles and their policies are the synthesized
AWS::IAM::Role / AWS::IAM::Policy resources themselves (emulator.deploy creates them).

The evaluation is moto's own (IAMPolicy, on every request once INITIAL_NO_AUTH_ACTION_COUNT is
spent), so a role is judged as moto judges any signed request. Added here, each for a call this
stack makes, where moto 5.2.5 is lenient or wrong:

- The IAM action of an API operation where the names differ (lambda:Invoke is authorized by
  lambda:InvokeFunction; the SQS batch operations by their single-message actions), and
  case-insensitive action matching (IAM's rule; the CDK writes `sqs:getQueueAttributes`).
- The resource of DynamoDB and Lambda requests (moto checks them against "*", which no
  resource-scoped statement matches), and TransactWriteItems, authorized action by action
  (PutItem, UpdateItem, DeleteItem, ConditionCheckItem on each item's table: DynamoDB developer
  guide, "Using IAM with DynamoDB transactions"), not as an action of its own.
- S3: PutObject with a tag set also needs s3:PutObjectTagging, with Object Lock headers
  s3:PutObjectRetention / s3:PutObjectLegalHold; GetObject and HeadObject return the lock headers
  only to a caller with s3:GetObjectRetention / s3:GetObjectLegalHold; a missing key answers 403
  AccessDenied, not 404, to a caller without s3:ListBucket on the bucket (unless the key's current
  version is a delete marker); and a retain-until date in the past is refused with 400
  InvalidArgument (Amazon S3 API reference: PutObject, GetObject, HeadObject); a bucket's
  replication configuration is read with its own action (s3:GetReplicationConfiguration), not
  s3:ListBucket.
- S3 Object Lock reads: GET ?retention, ?legal-hold and the bucket's ?object-lock are authorized
  as s3:GetObjectRetention, s3:GetObjectLegalHold and s3:GetBucketObjectLockConfiguration (moto
  asks s3:GetObject and s3:ListBucket), GetObjectRetention is answered (moto lacks it), and both
  object reads answer NoSuchObjectLockConfiguration for a version without a lock, InvalidRequest
  on a bucket without Object Lock. DeleteObject is moto's own: s3:DeleteObject, and
  s3:DeleteObjectVersion with a version id.

- DynamoDB's `dynamodb:LeadingKeys` condition (`ForAllValues:StringLike`, `ForAllValues:StringEquals`,
  `ForAllValues:StringNotLike`): a statement applies only when every partition key the request (or
  the transaction's item) touches passes it, so a role is held to its own item prefixes.
- The condition keys the converter's role and the work queue's policy rely on (emulator/conditions.py):
  `s3:if-match`, `s3:if-none-match`, `s3:object-lock-mode`, `s3:object-lock-legal-hold`,
  `s3:object-lock-remaining-retention-days`, `s3:object-lock-retain-until-date` (from the request's
  headers), `aws:PrincipalArn` (the role, not the session) and `aws:SecureTransport` (every emulated
  request is HTTPS): a statement whose condition on one of them does not hold does not apply,
  whether it allows or denies.
- The work queue's resource policy, for sqs:SendMessage: a Deny of the queue's policy that
  applies refuses the send whatever the caller's own policies allow (IAM's explicit deny).

What this cannot evaluate, and tests/infra asserts on the template instead: other conditions
(moto ignores `s3:prefix`, `kms:ViaService`, `aws:SourceArn`...; a conditioned Allow counts as an
Allow), other resource policies (bucket, topic, the queues' for other actions), KMS key policies,
and alarm actions.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from botocore.credentials import Credentials
from botocore.signers import RequestSigner
from moto import settings as moto_settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.core.responses import ActionResult
from moto.iam import access_control
from moto.s3 import responses as s3_responses
from moto.s3.exceptions import (
    InvalidArgumentError,
    LockNotEnabled,
    MissingKey,
    MissingVersion,
    S3AccessDeniedError,
    S3ClientError,
)
from werkzeug.datastructures import Headers

from . import conditions

OPERATOR = "emulator-operator"
# moto's Step Functions engine signs its service calls with these fixed keys
# (moto/stepfunctions/parser/asl/utils/boto_client.py): they identify the state machine.
MOTO_SFN_ACCESS_KEY = "ak"
# API operation -> the IAM action that authorizes it, where the names differ.
ACTION_OF_OPERATION = {
    "lambda:invoke": "lambda:InvokeFunction",
    "sqs:sendmessagebatch": "sqs:SendMessage",
    "sqs:deletemessagebatch": "sqs:DeleteMessage",
    "sqs:changemessagevisibilitybatch": "sqs:ChangeMessageVisibility",
}
# moto answers a denial in XML; these services speak JSON, where AWS's error is this type / status.
JSON_ACCESS_DENIED = {
    "dynamodb": ("AccessDeniedException", 400),
    "lambda": ("AccessDeniedException", 403),
    "awslambda": ("AccessDeniedException", 403),
    "sqs": ("AccessDenied", 403),
    "states": ("AccessDeniedException", 400),
    "stepfunctions": ("AccessDeniedException", 400),
    "sts": None,
}
# S3 requests moto authorizes as another action (its ACTION_MAP lacks their subresource: a GET
# ?legal-hold passed as s3:GetObject, ?object-lock as s3:ListBucket), by (resource, method, subresource).
_SUBRESOURCE_ACTIONS = {
    ("BUCKET", "GET", "object-lock"): "GetBucketObjectLockConfiguration",
    ("KEY", "GET", "retention"): "GetObjectRetention",
    ("KEY", "GET", "legal-hold"): "GetObjectLegalHold",
}
_LOCK_RETENTION_HEADERS = ("x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date")
_LOCK_HOLD_HEADER = "x-amz-object-lock-legal-hold"


@dataclass(frozen=True)
class Identity:
    name: str  # the role's (or user's) logical name, for messages
    arn: str
    credentials: Credentials


@dataclass
class Identities:
    operator: Identity
    roles: dict[str, Identity]  # by the role's logical id in the template
    state_machine: Identity | None = None

    def role(self, logical_prefix: str) -> Identity:
        return next(identity for lid, identity in self.roles.items() if lid.startswith(logical_prefix))


def create_operator(iam: Any) -> Identity:
    arn = iam.create_user(UserName=OPERATOR)["User"]["Arn"]
    iam.put_user_policy(
        UserName=OPERATOR,
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName=OPERATOR)["AccessKey"]
    return Identity(OPERATOR, arn, Credentials(key["AccessKeyId"], key["SecretAccessKey"]))


def assume(sts: Any, name: str, role_arn: str) -> Identity:
    """The role's temporary credentials, as Lambda / Step Functions get them (before auth is on)."""
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=name[:64], DurationSeconds=43200)["Credentials"]
    return Identity(name, role_arn, Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]))


# --- who is calling -----------------------------------------------------------------------

_acting = threading.local()


@contextmanager
def acting_as(identity: Identity | None) -> Iterator[None]:
    """Requests made by this thread while active are signed with `identity`'s credentials."""
    stack = _acting.__dict__.setdefault("stack", [])
    stack.append(identity)
    try:
        yield
    finally:
        stack.pop()


def _caller(identities: Identities, client_credentials: Any) -> Credentials:
    stack = getattr(_acting, "stack", None)
    if stack and stack[-1] is not None:
        return stack[-1].credentials
    if identities.state_machine is not None and getattr(client_credentials, "access_key", None) == MOTO_SFN_ACCESS_KEY:
        return identities.state_machine.credentials
    return identities.operator.credentials


# --- moto's evaluation, completed ---------------------------------------------------------


def _s3_request(response: Any, action: str) -> Any:
    """moto's own IAM request for the S3 call being served, asking about `action`."""
    parsed = urlparse(response.uri)
    path = response.raw_path + (f"?{parsed.query}" if parsed.query else "")
    request = access_control.S3IAMRequest(
        account_id=response.current_account,
        method=response.method,
        path=path,
        data=response.data,
        body=response.raw_body,
        headers=response.headers,
        action=action,
    )
    request._action = f"s3:{action}"
    return request


def s3_allows(response: Any, action: str, resource: str) -> bool:
    try:
        _s3_request(response, action).check_action_permitted(resource)
    except (S3AccessDeniedError, AccessDeniedError):
        return False
    return True


def _require(response: Any, action: str, resource: str) -> None:
    _s3_request(response, action).check_action_permitted(resource)  # raises AccessDenied


def _object_arn(response: Any, key_name: str) -> str:
    return f"arn:aws:s3:::{response.bucket_name}/{key_name}"


def _bucket_arn(response: Any) -> str:
    return f"arn:aws:s3:::{response.bucket_name}"


def _put_checks(response: Any, key_name: str) -> None:
    """What PutObject (and CopyObject) asks beyond s3:PutObject, and a past retention date."""
    headers = {k.lower(): v for k, v in response.headers.items()}
    resource = _object_arn(response, key_name)
    if "x-amz-tagging" in headers:
        _require(response, "PutObjectTagging", resource)
    if any(headers.get(h) for h in _LOCK_RETENTION_HEADERS):
        _require(response, "PutObjectRetention", resource)
    if headers.get(_LOCK_HOLD_HEADER):
        _require(response, "PutObjectLegalHold", resource)
    until = headers.get("x-amz-object-lock-retain-until-date")
    if until:
        try:
            when = dt.datetime.fromisoformat(until.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidArgumentError(
                "The retain until date is not a valid date", "x-amz-object-lock-retain-until-date", until
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        if when <= dt.datetime.now(dt.UTC):
            raise InvalidArgumentError(
                "The retain until date must be in the future!", "x-amz-object-lock-retain-until-date", until
            )


def _copy_checks(response: Any) -> None:
    """CopyObject reads its source: s3:GetObjectVersion for a given version, s3:GetObject otherwise
    (Amazon S3 API reference, CopyObject, "Permissions"), which moto does not ask.

    moto also demands Content-MD5 or x-amz-sdk-checksum-algorithm of a copy onto an Object Lock
    bucket, as of a PutObject's body; a copy has no body, and S3's own API model gives CopyObject
    neither a ContentMD5 member nor a checksum requirement (botocore's s3 service model: no SDK
    could send one), so the emulator answers for moto that the request is complete."""
    source = urlparse(str(response.headers.get("x-amz-copy-source")))
    bucket, _, key = unquote(source.path).lstrip("/").partition("/")
    version = parse_qs(source.query).get("versionId", [None])[0]
    _require(response, "GetObjectVersion" if version else "GetObject", f"arn:aws:s3:::{bucket}/{key}")
    if "x-amz-sdk-checksum-algorithm" not in response.headers:
        headers = Headers(response.headers)  # the request's own are immutable
        headers["x-amz-sdk-checksum-algorithm"] = "CRC32"
        response.headers = headers


def _strip_lock_headers(response: Any, key_name: str, headers: dict[str, Any]) -> None:
    resource = _object_arn(response, key_name)
    lowered = {k.lower(): k for k in headers}
    if any(h in lowered for h in _LOCK_RETENTION_HEADERS) and not s3_allows(response, "GetObjectRetention", resource):
        for h in _LOCK_RETENTION_HEADERS:
            headers.pop(lowered.get(h, h), None)
    if _LOCK_HOLD_HEADER in lowered and not s3_allows(response, "GetObjectLegalHold", resource):
        headers.pop(lowered[_LOCK_HOLD_HEADER], None)


class _NoLockConfiguration(S3ClientError):
    """What S3 answers GetObjectRetention / GetObjectLegalHold for a version without either."""

    code = "NoSuchObjectLockConfiguration"

    def __init__(self) -> None:
        super().__init__(
            "NoSuchObjectLockConfiguration", "The specified object does not have a ObjectLock configuration"
        )


def _object_retention(response: Any, key_name: str) -> Any:
    """GetObjectRetention, which moto 5.2.5 lacks (it answers a GET ?retention with the object)."""
    if not response.backend.get_bucket(response.bucket_name).object_lock_enabled:
        raise LockNotEnabled()
    version_id = response.querystring.get("versionId", [None])[0]
    key = response.backend.get_object(response.bucket_name, key_name, version_id=version_id)
    if key is None:
        raise MissingKey(key=key_name) if version_id is None else MissingVersion()
    if not key.lock_mode or not key.lock_until:
        raise _NoLockConfiguration()
    response.data["Action"] = "GetObjectRetention"
    return response.serialized(ActionResult({"Retention": {"Mode": key.lock_mode, "RetainUntilDate": key.lock_until}}))


def _object_legal_hold(response: Any, key_name: str, original: Any, query: dict[str, Any]) -> Any:
    """GetObjectLegalHold: S3 refuses it on a bucket without Object Lock, and answers a version
    that never had a legal hold with NoSuchObjectLockConfiguration (moto answers both with none)."""
    if not response.backend.get_bucket(response.bucket_name).object_lock_enabled:
        raise LockNotEnabled()
    version_id = response.querystring.get("versionId", [None])[0]
    key = response.backend.get_object(response.bucket_name, key_name, version_id=version_id)
    if key is not None and not key.lock_legal_status:
        raise _NoLockConfiguration()
    return original(response, query, key_name)


def _has_versions(response: Any, key_name: str) -> bool:
    """A key whose current version is a delete marker still has versions (S3 answers 404)."""
    bucket = response.backend.get_bucket(response.bucket_name)
    return bool(bucket.keys.getlist(key_name, []))


def _missing_key_is_hidden(response: Any, key_name: str) -> bool:
    return not _has_versions(response, key_name) and not s3_allows(response, "ListBucket", _bucket_arn(response))


_request_context = threading.local()  # the condition keys of the request being judged


def _queue_url_of(request: Any) -> str:
    url = (request._data or {}).get("QueueUrl") if isinstance(request._data, Mapping) else None
    if not url and request._body:
        try:
            body = json.loads(request._body)
        except (ValueError, TypeError):
            body = None
        if isinstance(body, Mapping):
            url = body.get("QueueUrl")
    return str(url or "")


def _queue_policy_check(request: Any) -> None:
    """The queue's own policy: a Deny that applies to this sender refuses the send (an explicit
    deny wins over any Allow: IAM user guide, "Policy evaluation logic")."""
    from moto.sqs.models import sqs_backends

    url = _queue_url_of(request)
    if not url:
        return
    try:
        queue = sqs_backends[request.account_id][request._region].get_queue(url.rstrip("/").rsplit("/", 1)[-1])
    except Exception:
        return
    if not queue.policy:
        return
    document = json.loads(queue.policy) if isinstance(queue.policy, str) else queue.policy
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Deny":
            continue
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        if not any(re.fullmatch(a.lower().replace("*", ".*"), "sqs:sendmessage") for a in actions):
            continue
        if conditions.statement_applies(statement, _request_context.values) is True:
            request._raise_access_denied()


_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
_action_override = threading.local()
_leading = threading.local()  # the partition keys of the DynamoDB request (or item) being judged
_LEADING_KEYS = "dynamodb:leadingkeys"


def _hash_key_attribute(response: Any, table: str) -> str | None:
    from moto.dynamodb.models import dynamodb_backends

    try:
        return str(dynamodb_backends[response.current_account][response.region].get_table(table).hash_key_attr)
    except Exception:
        return None


def _partition_values(response: Any, table: str, keys: list[Mapping[str, Any]]) -> list[str] | None:
    attribute = _hash_key_attribute(response, table)
    if attribute is None:
        return None
    values = []
    for key in keys:
        typed = key.get(attribute)
        if not isinstance(typed, Mapping) or not typed:
            return None
        values.append(str(next(iter(typed.values()))))
    return values


def _request_keys(response: Any, table: str, request: Mapping[str, Any]) -> list[str] | None:
    """The partition keys one DynamoDB request (or one transaction item) touches; None if unknown."""
    if "Key" in request:
        return _partition_values(response, table, [request["Key"]])
    if "Item" in request:
        return _partition_values(response, table, [request["Item"]])
    if "Keys" in request:  # BatchGetItem
        return _partition_values(response, table, list(request["Keys"]))
    if isinstance(request, list):  # BatchWriteItem's requests
        return None
    return None


def _leading_keys_of(response: Any) -> list[str] | None:
    if getattr(response, "service_name", "") != "dynamodb":
        return None
    body = getattr(response, "body", None)
    if not isinstance(body, Mapping):
        return None
    if "TableName" in body:
        return _request_keys(response, body["TableName"], body)
    items = body.get("RequestItems")
    if isinstance(items, Mapping) and len(items) == 1:
        ((table, request),) = items.items()
        if isinstance(request, Mapping):
            return _request_keys(response, table, request)
    return None


def _leading_keys_allow(statement: Mapping[str, Any], keys: list[str]) -> bool | None:
    """Whether a statement's dynamodb:LeadingKeys condition lets these keys through; None when
    the statement has no such condition."""
    for operator, values in (statement.get("Condition") or {}).items():
        for name, patterns in values.items():
            if name.lower() != _LEADING_KEYS:
                continue
            patterns = patterns if isinstance(patterns, list) else [patterns]
            if operator == "ForAllValues:StringLike":
                regexes = [re.compile("^" + ".*".join(map(re.escape, p.split("*"))) + "$") for p in patterns]
                return all(any(r.match(k) for r in regexes) for k in keys)
            if operator == "ForAllValues:StringEquals":
                return all(k in patterns for k in keys)
            if operator == "ForAllValues:StringNotLike":
                regexes = [re.compile("^" + ".*".join(map(re.escape, p.split("*"))) + "$") for p in patterns]
                return all(not any(r.match(k) for r in regexes) for k in keys)
            return False  # an operator this emulator does not evaluate: not granted
    return None


def _transact_actions(response: Any) -> list[tuple[str, str]] | None:
    """(IAM action, table) for each item of a TransactWriteItems request; None for other requests."""
    if getattr(response, "service_name", "") != "dynamodb":
        return None
    body = getattr(response, "body", None)
    if not isinstance(body, Mapping) or "TransactItems" not in body:
        return None
    actions = []
    for item in body["TransactItems"]:
        for operation, request in item.items():
            actions.append((f"dynamodb:{_TRANSACT_ACTIONS[operation]}", request["TableName"]))
    return actions


def _transact_requests(response: Any) -> list[Mapping[str, Any]]:
    if _transact_actions(response) is None:
        return []
    return [request for item in response.body["TransactItems"] for request in item.values()]


def _resource_of(response: Any, resource: str) -> str:
    """The ARN moto leaves as "*" for the services this stack calls."""
    service = getattr(response, "service_name", "")
    region, account = response.region, response.current_account
    if service == "dynamodb":
        body = getattr(response, "body", None)
        table = body.get("TableName") if isinstance(body, Mapping) else None
        if table is None and isinstance(body, Mapping) and len(body.get("RequestItems") or {}) == 1:
            (table,) = body["RequestItems"]  # BatchGetItem / BatchWriteItem on one table
        if table:
            return f"arn:aws:dynamodb:{region}:{account}:table/{table}"
    if service in ("lambda", "awslambda"):
        parts = response.path.split("/")
        if "functions" in parts and len(parts) > parts.index("functions") + 1:
            name = unquote(parts[parts.index("functions") + 1])
            return name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"
    return resource


_ABSENT = object()
# Bucket subresources moto 5.2.5 authorizes as s3:ListBucket (its ACTION_MAP lacks them), by the
# IAM action that authorizes them (Amazon S3 API reference: GetObjectLockConfiguration needs
# s3:GetBucketObjectLockConfiguration, GetBucketReplication s3:GetReplicationConfiguration).
S3_BUCKET_GET_ACTIONS = {
    "object-lock": "GetBucketObjectLockConfiguration",
    "replication": "GetReplicationConfiguration",
}


class _Patches:
    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []
        self._entries: list[tuple[dict[str, Any], str, Any]] = []

    def wrap(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        original = owner.__dict__[name]
        self._saved.append((owner, name, original))
        setattr(owner, name, make(original))

    def put(self, mapping: dict[str, Any], key: str, value: Any) -> None:
        """mapping[key] = value until undo (a key that was absent is removed again)."""
        self._entries.append((mapping, key, mapping.get(key, _ABSENT)))
        mapping[key] = value

    def undo(self) -> None:
        for owner, name, value in reversed(self._saved):
            setattr(owner, name, value)
        self._saved.clear()
        for mapping, key, old in reversed(self._entries):
            if old is _ABSENT:
                mapping.pop(key, None)
            else:
                mapping[key] = old
        self._entries.clear()


def _install(p: _Patches, identities: Identities) -> None:
    def get_auth_instance(original: Any) -> Any:
        def wrapper(
            self: Any,
            signing_name: str,
            region_name: str,
            signature_version: Any = None,
            request_credentials: Any = None,
            **kwargs: Any,
        ) -> Any:
            return original(
                self, signing_name, region_name, signature_version, _caller(identities, self._credentials), **kwargs
            )

        return wrapper

    p.wrap(RequestSigner, "get_auth_instance", get_auth_instance)

    def request_init(original: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            self._action = getattr(_action_override, "action", None) or ACTION_OF_OPERATION.get(
                self._action.lower(), self._action
            )

        return wrapper

    p.wrap(access_control.IAMRequestBase, "__init__", request_init)

    def element_matches(original: Any) -> Any:
        def wrapper(self: Any, statement_element: Any, value: str) -> bool:
            if statement_element not in ("Action", "NotAction"):
                return original(self, statement_element, value)
            patterns = self._statement[statement_element]
            patterns = patterns if isinstance(patterns, list) else [patterns]
            return any(self._match(pattern.lower(), value.lower()) for pattern in patterns)

        return wrapper

    p.wrap(access_control.IAMPolicyStatement, "_check_element_matches", element_matches)

    def statement_permitted(original: Any) -> Any:
        def wrapper(self: Any, action: str, resource: str = "*", *args: Any, **kwargs: Any) -> Any:
            keys = getattr(_leading, "keys", None)
            if keys is not None and _leading_keys_allow(self._statement, keys) is False:
                return access_control.PermissionResult.NEUTRAL
            context = getattr(_request_context, "values", None)
            if context is not None and conditions.statement_applies(self._statement, context) is False:
                return access_control.PermissionResult.NEUTRAL
            return original(self, action, resource, *args, **kwargs)

        return wrapper

    p.wrap(access_control.IAMPolicyStatement, "is_action_permitted", statement_permitted)

    def action_permitted(original: Any) -> Any:
        def wrapper(self: Any, resource: str) -> None:
            saved = getattr(_request_context, "values", None)
            _request_context.values = conditions.request_context(
                self._headers, getattr(self._access_key, "arn", ""), self._action
            )
            try:
                original(self, resource)
                if self._action.lower() == "sqs:sendmessage":
                    _queue_policy_check(self)
            finally:
                _request_context.values = saved

        return wrapper

    p.wrap(access_control.IAMRequestBase, "check_action_permitted", action_permitted)

    def normal_action(original: Any) -> Any:
        def wrapper(self: Any, resource: str = "*") -> None:
            try:
                transact = _transact_actions(self)
                if transact is None:
                    _leading.keys = _leading_keys_of(self)
                    try:
                        original(self, _resource_of(self, resource))
                    finally:
                        _leading.keys = None
                for (action, table), request in zip(transact or [], _transact_requests(self), strict=True):
                    _action_override.action = action
                    _leading.keys = _request_keys(self, table, request)
                    try:
                        original(self, f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{table}")
                    finally:
                        _action_override.action = None
                        _leading.keys = None
            except AccessDeniedError as denied:
                json_error = JSON_ACCESS_DENIED.get(getattr(self, "service_name", ""))
                if json_error is None:
                    raise
                error = JsonRESTError(json_error[0], denied.message)
                error.code = json_error[1]
                raise error from None

        return wrapper

    p.wrap(ActionAuthenticatorMixin, "_authenticate_and_authorize_normal_action", normal_action)

    def key_put(original: Any) -> Any:
        def wrapper(self: Any, query: dict[str, Any], key_name: str) -> Any:
            if not any(q in query for q in ("uploadId", "retention", "legal-hold", "acl", "tagging")):
                self._set_action("KEY", "PUT", query)
                self._authenticate_and_authorize_s3_action(bucket_name=self.bucket_name, key_name=key_name)
                _put_checks(self, key_name)
                if "x-amz-copy-source" in self.headers:
                    _copy_checks(self)
            return original(self, query, key_name)

        return wrapper

    p.wrap(s3_responses.S3Response, "_key_response_put", key_put)

    def set_action(original: Any) -> Any:
        def wrapper(self: Any, action_resource_type: str, method: str, querystring: dict[str, Any]) -> None:
            original(self, action_resource_type, method, querystring)
            for (kind, verb, subresource), action in _SUBRESOURCE_ACTIONS.items():
                if (kind, verb) == (action_resource_type, method) and subresource in querystring:
                    self.data["Action"] = action

        return wrapper

    p.wrap(s3_responses.S3Response, "_set_action", set_action)

    def key_get(original: Any) -> Any:
        def wrapper(self: Any, query: dict[str, Any], key_name: str) -> Any:
            if "retention" in query or "legal-hold" in query:
                self._set_action("KEY", "GET", query)
                self._authenticate_and_authorize_s3_action(bucket_name=self.bucket_name, key_name=key_name)
                if "retention" in query:
                    return _object_retention(self, key_name)
                return _object_legal_hold(self, key_name, original, query)
            try:
                status, headers, body = original(self, query, key_name)
            except MissingKey:
                if _missing_key_is_hidden(self, key_name):
                    raise S3AccessDeniedError() from None
                raise
            if not query:
                _strip_lock_headers(self, key_name, headers)
            return status, headers, body

        return wrapper

    p.wrap(s3_responses.S3Response, "_key_response_get", key_get)

    def head(original: Any) -> Any:
        def wrapper(self: Any, bucket_name: str, query: dict[str, Any], key_name: str, headers: dict[str, Any]) -> Any:
            status, response_headers, body = original(self, bucket_name, query, key_name, headers)
            if status == 404 and _missing_key_is_hidden(self, key_name):
                return 403, {}, ""
            if status == 200:
                _strip_lock_headers(self, key_name, response_headers)
            return status, response_headers, body

        return wrapper

    p.wrap(s3_responses.S3Response, "head_object", head)

    for subresource, action in S3_BUCKET_GET_ACTIONS.items():
        p.put(s3_responses.ACTION_MAP["BUCKET"]["GET"], subresource, action)


_lock = threading.Lock()
_active: list[Identities] = []
_patches = _Patches()


@contextmanager
def enforced(identities: Identities) -> Iterator[None]:
    """IAM on every request while active; the previous (lenient) moto behaviour afterwards."""
    with _lock:
        if _active:
            raise RuntimeError("IAM enforcement is already active for another deployment")
        _active.append(identities)
        _install(_patches, identities)
        saved = (moto_settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count)
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0
    try:
        yield
    finally:
        with _lock:
            moto_settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = saved
            _patches.undo()
            _active.clear()


def is_access_denied(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in ("AccessDenied", "AccessDeniedException", "403")
