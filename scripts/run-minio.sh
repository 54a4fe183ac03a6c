#!/usr/bin/env bash
# `make run-minio`: a real MinIO on 127.0.0.1:9000 with its data in
# ./data/minio, and photogate in front of it on 127.0.0.1:9080.
set -euo pipefail
cd "$(dirname "$0")/.."
minio=${PHOTOGATE_MINIO_BIN:-.tools/bin/minio}
mkdir -p data/minio
export MINIO_ROOT_USER=${MINIO_ROOT_USER:-minioadmin}
export MINIO_ROOT_PASSWORD=${MINIO_ROOT_PASSWORD:-minioadmin}
"$minio" server data/minio --address 127.0.0.1:9000 --console-address 127.0.0.1:9001 --quiet &
minio_pid=$!
trap 'kill $minio_pid 2>/dev/null; wait $minio_pid 2>/dev/null' EXIT
for _ in $(seq 1 50); do
  curl -fsS http://127.0.0.1:9000/minio/health/live >/dev/null 2>&1 && break
  sleep 0.2
done
export PHOTOGATE_BACKEND_ENDPOINT=http://127.0.0.1:9000
export PHOTOGATE_BACKEND_ACCESS_KEY=$MINIO_ROOT_USER
export PHOTOGATE_BACKEND_SECRET_KEY=$MINIO_ROOT_PASSWORD
export PHOTOGATE_ACCESS_KEY=${PHOTOGATE_ACCESS_KEY:-photogate}
export PHOTOGATE_SECRET_KEY=${PHOTOGATE_SECRET_KEY:-photogate-secret}
cat <<MSG

MinIO is on http://127.0.0.1:9000; photogate is in front of it on http://127.0.0.1:9080.
In another terminal:

  export AWS_ACCESS_KEY_ID=$PHOTOGATE_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$PHOTOGATE_SECRET_KEY
  aws --endpoint-url http://127.0.0.1:9080 s3 mb s3://photos
  ./bin/photogate search --bucket photos   # signs as that user, who has admin

MSG
./bin/photogate serve --data-dir data/photogate
