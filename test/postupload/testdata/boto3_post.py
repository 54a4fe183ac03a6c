"""Browser-style upload with boto3's generate_presigned_post and requests.

Usage: boto3_post.py ENDPOINT BUCKET SIGNATURE_VERSION KEY DATAFILE FILENAME CONTENT_TYPE

SIGNATURE_VERSION is s3v4 (SigV4) or s3 (SigV2). KEY may hold ${filename}.
The form carries Content-Type, x-amz-meta-camera, x-amz-meta-album and
success_action_status 201, all covered by the policy, and a
content-length-range of the file's exact size. Prints one JSON object with
what the server answered; the Go test asserts. Credentials come from
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, and AWS_CA_BUNDLE (if set) is
trusted by both boto3 and requests.
"""
import json
import os
import sys

import boto3
import requests
from botocore.config import Config

endpoint, bucket, sigver, key, datafile, filename, content_type = sys.argv[1:8]
data = open(datafile, "rb").read()

s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, signature_version=sigver))
fields = {
    "Content-Type": content_type,
    "x-amz-meta-camera": "boto3-" + sigver,
    "x-amz-meta-album": "post upload",
    "success_action_status": "201",
}
conditions = [{k: v} for k, v in fields.items()]
conditions.append(["content-length-range", len(data), len(data)])
post = s3.generate_presigned_post(bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=300)

resp = requests.post(post["url"], data=post["fields"],
                     files={"file": (filename, data, content_type)},
                     allow_redirects=False, verify=os.environ.get("AWS_CA_BUNDLE", True))
print(json.dumps({
    "url": post["url"],
    "field_names": sorted(post["fields"]),
    "status": resp.status_code,
    "body": resp.text,
    "etag": resp.headers.get("ETag", ""),
    "location": resp.headers.get("Location", ""),
}))
