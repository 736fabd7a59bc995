"""Comparison baseline (seed-style upload-URL function), timed by bench_cold_start.py.

Imports boto3, creates one S3 client at import and answers with a presigned POST.
"""

import json
import os
import uuid

import boto3

s3 = boto3.client("s3")
BUCKET = os.environ["BUCKET_NAME"]


def handler(event, context):
    body = json.loads(event.get("body") or "{}")
    key = f"uploads/{uuid.uuid4().hex}/{body.get('fileName', 'upload.dcm')}"
    post = s3.generate_presigned_post(
        BUCKET, key, Conditions=[["content-length-range", 1, 536870912]], ExpiresIn=900
    )
    return {"statusCode": 200, "body": json.dumps({"key": key, "upload": post})}
