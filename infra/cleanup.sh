#!/usr/bin/env bash
# Delete a dicomlens stack with the AWS CLI only: empty every bucket the stack created (all
# object versions and delete markers: the buckets are versioned, and CloudFormation cannot
# delete a non-empty bucket), then delete the stack and wait.
#
#   infra/cleanup.sh [STACK_NAME] [REGION]      default: dicomlens-dev, the CLI's region
set -euo pipefail

stack="${1:-dicomlens-dev}"
region_args=()
[ -n "${2:-}" ] && region_args=(--region "$2")
# ${a[@]+"${a[@]}"}: an empty array is "unbound" under set -u in bash before 4.4 (macOS bash 3.2)
aws() { command aws ${region_args[@]+"${region_args[@]}"} "$@"; }

empty_bucket() {
  local bucket="$1" batch
  while true; do
    # One page of versions and delete markers as a DeleteObjects request (at most 1000 keys).
    batch=$(aws s3api list-object-versions --bucket "$bucket" --max-items 1000 --output json |
      python3 -c 'import json, sys
page = json.load(sys.stdin)
items = (page.get("Versions") or []) + (page.get("DeleteMarkers") or [])
print(json.dumps({"Objects": [{"Key": i["Key"], "VersionId": i["VersionId"]} for i in items][:1000], "Quiet": True}) if items else "")')
    [ -z "$batch" ] && break
    aws s3api delete-objects --bucket "$bucket" --delete "$batch" >/dev/null
  done
  echo "emptied s3://$bucket"
}

buckets=$(aws cloudformation list-stack-resources --stack-name "$stack" --output text \
  --query "StackResourceSummaries[?ResourceType=='AWS::S3::Bucket'].PhysicalResourceId")

# Access logs keep arriving for a few minutes: retry if the first delete finds a bucket refilled.
for attempt in 1 2 3; do
  for bucket in $buckets; do
    empty_bucket "$bucket"
  done
  aws cloudformation delete-stack --stack-name "$stack"
  if aws cloudformation wait stack-delete-complete --stack-name "$stack"; then
    echo "deleted stack $stack"
    exit 0
  fi
  echo "attempt $attempt: stack deletion failed, retrying" >&2
done
exit 1
