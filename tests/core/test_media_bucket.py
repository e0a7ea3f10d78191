"""S3 media that cannot work stop a process at start, with a message that says why (comfyweb.E002).

Against moto's S3 server with IAM authentication on (tests/s3.py), so wrong keys are refused as AWS refuses them.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import free_port
from tests.processes import BASE_DIR, manage
from tests.s3 import S3Server


@pytest.fixture(scope="module")
def s3_with_auth():
    server = S3Server(auth=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bucket(s3_with_auth):
    return s3_with_auth.create_bucket()


def _check(env: dict) -> subprocess.CompletedProcess:
    process = manage("check", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_the_right_bucket_and_key_pass(s3_with_auth, bucket):
    result = _check(s3_with_auth.env(bucket))
    assert result.returncode == 0, result.stderr
    assert "comfyweb.E002" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"AWS_STORAGE_BUCKET_NAME": "no-such-bucket"}, "S3 media bucket no-such-bucket does not exist at http://"),
        ({"AWS_ACCESS_KEY_ID": "AKIAWRONGWRONGWRONG1"}, "the credentials were refused (InvalidAccessKeyId)"),
        ({"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, "the credentials were refused (SignatureDoesNotMatch)"),
    ],
    ids=["missing-bucket", "unknown-key", "wrong-secret"],
)
def test_a_missing_bucket_or_refused_credentials_stop_the_commands(s3_with_auth, bucket, change, message):
    result = _check({**s3_with_auth.env(bucket), **change})
    assert result.returncode != 0
    assert "(comfyweb.E002)" in result.stderr and message in result.stderr, result.stderr
    assert "HINT:" in result.stderr


def test_an_unreachable_endpoint_is_named(s3_with_auth, bucket):
    nowhere = f"http://127.0.0.1:{free_port()}"
    result = _check({**s3_with_auth.env(bucket), "AWS_ENDPOINT_URL": nowhere})
    assert result.returncode != 0
    assert f"the endpoint {nowhere} cannot be reached" in result.stderr, result.stderr


def test_daphne_refuses_to_start_with_a_missing_bucket(s3_with_auth, bucket):
    """daphne runs no system checks: comfyweb.asgi refuses with the same words when it is loaded."""
    env = {**os.environ, "EMBEDDED_DEV": "1", **s3_with_auth.env(bucket), "AWS_STORAGE_BUCKET_NAME": "gone-bucket"}
    result = subprocess.run(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(free_port()), "comfyweb.asgi:application"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "ImproperlyConfigured: S3 media bucket gone-bucket does not exist at http://" in result.stderr


def test_createbucket_makes_the_missing_bucket_then_the_checks_pass(s3):
    env = s3.env("made-by-createbucket")
    assert _check(env).returncode != 0
    created = manage("createbucket", env=env, stdout=subprocess.PIPE, text=True)
    assert created.communicate(timeout=120)[0].strip() == "S3 media bucket made-by-createbucket created"
    assert created.returncode == 0
    again = manage("createbucket", env=env, stdout=subprocess.PIPE, text=True)
    assert "already exists" in again.communicate(timeout=120)[0]
    assert _check(env).returncode == 0


def test_createbucket_without_s3_says_so():
    result = manage("createbucket", env={"AWS_STORAGE_BUCKET_NAME": ""}, stderr=subprocess.PIPE, text=True)
    assert result.communicate(timeout=120)[1].strip().endswith("media are on local disk, there is no bucket.")
    assert result.returncode != 0
