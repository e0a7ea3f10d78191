"""An S3 API for the tests: moto's server (tests/s3_server.py) on a free loopback port, with real credentials.

Unsigned reads of private objects get 403 and presigned URLs expire (tests/s3_server.py). With `auth=True`
moto's IAM authentication is on: only the access key made at start (with a policy that allows S3) opens the
buckets, and a wrong key is refused as AWS refuses it (InvalidAccessKeyId, SignatureDoesNotMatch); moto then
serves no presigned URL, so only the credential tests use it. `env()` gives the variables the web and the
workers read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import boto3
import httpx
from botocore.config import Config

from bench.procs import free_port
from tests.processes import BASE_DIR

REGION = "us-east-1"
# moto lets this many requests through before it authenticates: the three that make the key below.
BOOTSTRAP_REQUESTS = 3
S3_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


class S3Server:
    """moto's S3 (and IAM) API in a child process; `stop()` ends it (and everything it held)."""

    def __init__(self, *, auth: bool = False) -> None:
        self.auth = auth
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.access_key = "comfyweb-test"
        self.secret_key = "comfyweb-test-secret"

    def start(self, timeout: float = 60) -> S3Server:
        env = {**os.environ, "AWS_DEFAULT_REGION": REGION}
        if self.auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(BOOTSTRAP_REQUESTS)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.s3_server", "--port", str(self.port)],
            cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(f"{self.url}/moto-api/", timeout=2, trust_env=False)
                break
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the S3 server on port {self.port} did not start") from None
                time.sleep(0.1)
        if self.auth:
            self._make_key()
        return self

    def _make_key(self) -> None:
        iam = boto3.client(
            "iam", endpoint_url=self.url, region_name=REGION, aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )  # fmt: skip
        user = f"comfyweb-{uuid.uuid4().hex[:6]}"
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps(S3_POLICY))
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]

    def client(self, access_key: str | None = None, secret_key: str | None = None):
        return boto3.client(
            "s3", endpoint_url=self.url, region_name=REGION, aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key, config=Config(retries={"max_attempts": 1}),
        )  # fmt: skip

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"media-{uuid.uuid4().hex[:8]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def env(self, bucket: str, expire: int = 3600) -> dict[str, str]:
        """The web's and the workers' S3 settings for `bucket` on this server."""
        return {
            "AWS_STORAGE_BUCKET_NAME": bucket,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "MEDIA_URL_EXPIRE": str(expire),
        }

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
