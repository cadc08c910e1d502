"""cloudformation/bucket_notifications.py against moto's S3 and Lambda (in
process), with CloudFormation's response URL served on loopback."""

import io
import json
import os
import sys
import threading
import unittest
import zipfile
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bucket_notifications as bn  # noqa: E402

bn.log.setLevel(50)  # the failure tests log tracebacks on purpose

EVENTS = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:LifecycleExpiration:*"]


class Responses(BaseHTTPRequestHandler):
    received = []

    def do_PUT(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Responses.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@mock_aws
class BucketNotifications(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = HTTPServer(("127.0.0.1", 0), Responses)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()

    def setUp(self):
        Responses.received.clear()
        self.s3 = boto3.client("s3")
        self.lam = boto3.client("lambda")
        iam = boto3.client("iam")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\n")
        self.fn = self.lam.create_function(
            FunctionName="invalidate", Runtime="provided.al2023", Role=role, Handler="bootstrap", Code={"ZipFile": code.getvalue()}
        )["FunctionArn"]
        self.other_fn = self.lam.create_function(
            FunctionName="someone-else", Runtime="provided.al2023", Role=role, Handler="bootstrap", Code={"ZipFile": code.getvalue()}
        )["FunctionArn"]
        for b in ("photos", "archive", "third"):
            self.s3.create_bucket(Bucket=b)
        # a notification that is not ours and must survive everything
        self.foreign = {"Id": "thumbnails", "LambdaFunctionArn": self.other_fn, "Events": ["s3:ObjectCreated:Put"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".raw"}]}}}
        self.s3.put_bucket_notification_configuration(Bucket="photos", NotificationConfiguration={"LambdaFunctionConfigurations": [self.foreign]})

    def event(self, kind, buckets, old=None, prefix="public/"):
        ev = {
            "RequestType": kind,
            "ResponseURL": f"http://127.0.0.1:{self.server.server_port}/response",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/images/x",
            "RequestId": "req-1",
            "LogicalResourceId": "BucketNotifications",
            "ResourceType": "Custom::BucketNotifications",
            "ResourceProperties": {"ServiceToken": "x", "Buckets": buckets, "FunctionArn": self.fn, "Id": "image-handler-invalidate-images", "Prefix": prefix, "Events": EVENTS},
        }
        if kind != "Create":
            ev["PhysicalResourceId"] = "image-handler-invalidate-images"
        if old is not None:
            ev["OldResourceProperties"] = dict(ev["ResourceProperties"], Buckets=old)
        return ev

    def configs(self, bucket):
        return self.s3.get_bucket_notification_configuration(Bucket=bucket).get("LambdaFunctionConfigurations", [])

    def ours(self, bucket):
        return [c for c in self.configs(bucket) if c["Id"] == "image-handler-invalidate-images"]

    def s3_may_invoke(self):
        try:
            policy = json.loads(self.lam.get_policy(FunctionName="invalidate")["Policy"])
        except self.lam.exceptions.ResourceNotFoundException:
            return set()
        return {st["Condition"]["ArnLike"]["AWS:SourceArn"].split(":::")[1] for st in policy["Statement"]}

    def run_event(self, ev):
        bn.handler(ev, None, s3=self.s3, lam=self.lam)
        return Responses.received[-1]

    def test_create_update_delete(self):
        reply = self.run_event(self.event("Create", ["photos", "archive"]))
        self.assertEqual(reply["Status"], "SUCCESS", reply)
        self.assertEqual(reply["PhysicalResourceId"], "image-handler-invalidate-images")
        for b in ("photos", "archive"):
            (ours,) = self.ours(b)
            self.assertEqual(ours["LambdaFunctionArn"], self.fn)
            self.assertEqual(sorted(ours["Events"]), sorted(EVENTS))
            self.assertEqual(ours["Filter"]["Key"]["FilterRules"], [{"Name": "prefix", "Value": "public/"}])
        self.assertIn(self.foreign["Id"], [c["Id"] for c in self.configs("photos")], "the bucket's own notification is kept")
        self.assertEqual(self.s3_may_invoke(), {"photos", "archive"})

        # running Create again (a retry) changes nothing
        self.run_event(self.event("Create", ["photos", "archive"]))
        self.assertEqual(len(self.ours("photos")), 1)

        reply = self.run_event(self.event("Update", ["archive", "third"], old=["photos", "archive"]))
        self.assertEqual(reply["Status"], "SUCCESS", reply)
        self.assertEqual(self.ours("photos"), [])
        self.assertEqual(len(self.ours("archive")), 1)
        self.assertEqual(len(self.ours("third")), 1)
        self.assertEqual([c["Id"] for c in self.configs("photos")], ["thumbnails"])
        self.assertEqual(self.s3_may_invoke(), {"archive", "third"})

        reply = self.run_event(self.event("Delete", ["archive", "third"]))
        self.assertEqual(reply["Status"], "SUCCESS", reply)
        self.assertEqual(self.ours("archive") + self.ours("third"), [])
        self.assertEqual(self.s3_may_invoke(), set())

    def test_failures_reach_cloudformation(self):
        reply = self.run_event(self.event("Create", ["no-such-bucket"]))
        self.assertEqual(reply["Status"], "FAILED")
        self.assertIn("NoSuchBucket", reply["Reason"])
        # a delete never leaves the stack stuck
        reply = self.run_event(self.event("Delete", ["no-such-bucket"]))
        self.assertEqual(reply["Status"], "SUCCESS")

    def test_no_prefix_means_no_filter(self):
        self.run_event(self.event("Create", ["third"], prefix=""))
        self.assertNotIn("Filter", self.ours("third")[0])

    def test_statement_ids_fit_lambda(self):
        sid = bn.statement_id("image-handler-invalidate-" + "x" * 200, "a.bucket.with.dots")
        self.assertLessEqual(len(sid), 100)
        self.assertRegex(sid, r"^[a-zA-Z0-9_-]+$")
        self.assertNotEqual(sid, bn.statement_id("image-handler-invalidate-" + "x" * 200, "another"))


if __name__ == "__main__":
    unittest.main()
