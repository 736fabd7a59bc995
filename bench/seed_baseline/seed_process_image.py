"""Comparison baseline (seed-style processImage function), timed by bench_cold_start.py.

Imports boto3, pydicom, numpy and Pillow, creates one S3 client at import, and for each S3
record reads the object, decodes it and stores a PNG preview.
"""

import io
import urllib.parse

import boto3
import numpy as np
import pydicom
from botocore.exceptions import ClientError
from PIL import Image

s3 = boto3.client("s3")


def handler(event, context):
    results = []
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            results.append({"key": key, "error": error.response["Error"]["Code"]})
            continue
        pixels = pydicom.dcmread(io.BytesIO(body)).pixel_array.astype(np.float32)
        pixels = (pixels - pixels.min()) / max(float(pixels.max() - pixels.min()), 1.0) * 255
        png = io.BytesIO()
        Image.fromarray(pixels.astype(np.uint8)).save(png, format="PNG")
        s3.put_object(Bucket=bucket, Key=f"derived/{key}.png", Body=png.getvalue())
        results.append({"key": key, "preview": f"derived/{key}.png"})
    return {"records": results}
