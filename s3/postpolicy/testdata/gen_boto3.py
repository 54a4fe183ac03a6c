# Regenerates boto3_forms.json: POST forms signed by boto3's
# generate_presigned_post (SigV4) with fixed test credentials. The tests
# verify them at the time each was signed, so the file never goes stale.
# Run: python3 gen_boto3.py > boto3_forms.json
import json

import boto3
from botocore.config import Config

ACCESS, SECRET = "AKIAPOSTPOLICYTEST", "postpolicy/secret+key"


def client(region, version="s3v4"):
    return boto3.client(
        "s3", region_name=region, aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET, endpoint_url="http://127.0.0.1:9000",
        config=Config(signature_version=version, s3={"addressing_style": "path"}))


cases = []
c = client("us-east-1")
cases.append({"name": "plain", "bucket": "photos", "form": c.generate_presigned_post(
    "photos", "2024/cat.jpg", ExpiresIn=3600)["fields"]})
cases.append({"name": "filename", "bucket": "photos", "form": c.generate_presigned_post(
    "photos", "uploads/${filename}", ExpiresIn=3600)["fields"]})
cases.append({"name": "fields", "bucket": "photos", "form": c.generate_presigned_post(
    "photos", "user/eric/${filename}",
    Fields={"Content-Type": "image/jpeg", "success_action_status": "201",
            "x-amz-meta-camera": "Fujifilm X-T5", "Cache-Control": "max-age=60",
            "tagging": "<Tagging><TagSet><Tag><Key>album</Key><Value>summer + sun</Value></Tag></TagSet></Tagging>"},
    Conditions=[["starts-with", "$Content-Type", "image/"], {"success_action_status": "201"},
                ["starts-with", "$x-amz-meta-camera", ""], ["content-length-range", 1, 1048576],
                {"Cache-Control": "max-age=60"},
                {"tagging": "<Tagging><TagSet><Tag><Key>album</Key><Value>summer + sun</Value></Tag></TagSet></Tagging>"},
                ["starts-with", "$key", "user/eric/"]],
    ExpiresIn=600)["fields"]})
c = client("eu-west-3")
cases.append({"name": "region", "bucket": "archive", "form": c.generate_presigned_post(
    "archive", "b\u00e4r/\u65e5\u672c.txt", Fields={"x-ignore-flash": "1"}, ExpiresIn=60)["fields"]})
c = client("us-east-1", "s3")
cases.append({"name": "sigv2", "bucket": "photos", "form": c.generate_presigned_post(
    "photos", "v2/${filename}", Fields={"acl": "private"}, Conditions=[{"acl": "private"}],
    ExpiresIn=3600)["fields"]})
json.dump({"access_key": ACCESS, "secret_key": SECRET, "cases": cases}, __import__("sys").stdout, indent=1, ensure_ascii=False)
