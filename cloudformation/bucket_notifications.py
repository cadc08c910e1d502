"""CloudFormation custom resource for InvalidateOnOverwrite=Yes.

Adds this stack's Lambda event notification to each source bucket (keeping
every other notification the bucket has), after letting S3 invoke the
invalidation function from exactly that bucket; removes both when a bucket
leaves the list or the stack is deleted. CloudFormation cannot do this
itself for buckets it does not own.

layer/build.sh packs this file into the function zip; the template runs it
on python3.12 as bucket_notifications.handler. Properties: Buckets,
FunctionArn, Id (the notification's id), Prefix, Events.
"""

import hashlib
import json
import logging
import urllib.request

import boto3
from botocore.exceptions import ClientError

log = logging.getLogger()
log.setLevel(logging.INFO)


def statement_id(config_id, bucket):
    """The function policy statement for one bucket (at most 100 characters)."""
    return "s3-" + hashlib.sha256(f"{config_id}\n{bucket}".encode()).hexdigest()[:40]


def arn_parts(function_arn):
    # arn:<partition>:lambda:<region>:<account>:function:<name>
    parts = function_arn.split(":")
    return parts[1], parts[4]


def our_config(props):
    config = {"Id": props["Id"], "LambdaFunctionArn": props["FunctionArn"], "Events": list(props["Events"])}
    if props.get("Prefix"):
        config["Filter"] = {"Key": {"FilterRules": [{"Name": "prefix", "Value": props["Prefix"]}]}}
    return config


def current(s3, bucket, account):
    config = s3.get_bucket_notification_configuration(Bucket=bucket, ExpectedBucketOwner=account)
    config.pop("ResponseMetadata", None)
    return config


def has_statement(lam, function_arn, sid):
    try:
        policy = json.loads(lam.get_policy(FunctionName=function_arn)["Policy"])
    except ClientError as e:
        if e.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise
    return any(st.get("Sid") == sid for st in policy.get("Statement", []))


def add(s3, lam, bucket, props):
    partition, account = arn_parts(props["FunctionArn"])
    sid = statement_id(props["Id"], bucket)
    if not has_statement(lam, props["FunctionArn"], sid):
        lam.add_permission(
            FunctionName=props["FunctionArn"],
            StatementId=sid,
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
            SourceArn=f"arn:{partition}:s3:::{bucket}",
            SourceAccount=account,
        )
    config = current(s3, bucket, account)
    others = [c for c in config.get("LambdaFunctionConfigurations", []) if c.get("Id") != props["Id"]]
    config["LambdaFunctionConfigurations"] = others + [our_config(props)]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config, ExpectedBucketOwner=account)
    log.info("notification %s added on %s", props["Id"], bucket)


def remove(s3, lam, bucket, props):
    _, account = arn_parts(props["FunctionArn"])
    try:
        config = current(s3, bucket, account)
        kept = [c for c in config.get("LambdaFunctionConfigurations", []) if c.get("Id") != props["Id"]]
        if len(kept) != len(config.get("LambdaFunctionConfigurations", [])):
            config["LambdaFunctionConfigurations"] = kept
            s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config, ExpectedBucketOwner=account)
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("NoSuchBucket", "AccessDenied"):
            raise
        log.warning("bucket %s: %s; its notification is left as it is", bucket, e)
    try:
        lam.remove_permission(FunctionName=props["FunctionArn"], StatementId=statement_id(props["Id"], bucket))
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    log.info("notification %s removed from %s", props["Id"], bucket)


def apply(event, s3, lam):
    """Carries out one CloudFormation request."""
    kind = event["RequestType"]
    new = event.get("ResourceProperties", {})
    old = event.get("OldResourceProperties", {})
    if kind == "Create":
        for bucket in new["Buckets"]:
            add(s3, lam, bucket, new)
    elif kind == "Update":
        same_target = old.get("Id") == new["Id"] and old.get("FunctionArn") == new["FunctionArn"]
        for bucket in old.get("Buckets", []):
            if not same_target or bucket not in new["Buckets"]:
                remove(s3, lam, bucket, old)
        for bucket in new["Buckets"]:
            add(s3, lam, bucket, new)
    elif kind == "Delete":
        for bucket in new.get("Buckets", []):
            remove(s3, lam, bucket, new)


def send(event, status, reason=""):
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000] or "see the function's log",
            "PhysicalResourceId": event.get("PhysicalResourceId") or event["ResourceProperties"]["Id"],
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
        }
    ).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def handler(event, context, s3=None, lam=None):
    s3 = s3 or boto3.client("s3")
    lam = lam or boto3.client("lambda")
    try:
        apply(event, s3, lam)
    except Exception as e:  # noqa: BLE001 - every failure must reach CloudFormation
        log.exception("custom resource failed")
        # A failed delete would leave the stack stuck; the error is logged.
        send(event, "SUCCESS" if event["RequestType"] == "Delete" else "FAILED", str(e))
        return
    send(event, "SUCCESS")
