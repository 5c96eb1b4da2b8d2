#!/usr/bin/env bash
# Deploy (or update) the QnABot stack with the AWS CLI: `make deploy STACK=... REGION=...`.
#
#   infra/deploy.sh STACK REGION [Key=Value ...]
#
# Needs the AWS CLI v2 and credentials for the target account, and the Lambda zips in build/
# (`make package`). The first deploy needs AdminEmail=you@example.com among the Key=Value
# parameters; later deploys keep every parameter you do not pass again.
# An artifacts bucket (qnabot-artifacts-<account>-<region>, encrypted, private) is created on
# first use to hold the zips that `aws cloudformation package` uploads.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 STACK REGION [AdminEmail=you@example.com] [LLMApi=BEDROCK ...]" >&2
  exit 2
fi
stack=$1 region=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
for zip in fulfillment admin; do
  [ -f "$root/build/$zip.zip" ] || { echo "build/$zip.zip is missing: run make package" >&2; exit 2; }
done

account=$(aws sts get-caller-identity --query Account --output text)
bucket=${ARTIFACT_BUCKET:-qnabot-artifacts-$account-$region}
if ! aws s3api head-bucket --bucket "$bucket" --region "$region" 2>/dev/null; then
  echo "creating artifacts bucket s3://$bucket"
  if [ "$region" = us-east-1 ]; then
    aws s3api create-bucket --bucket "$bucket" --region "$region" >/dev/null
  else
    aws s3api create-bucket --bucket "$bucket" --region "$region" \
      --create-bucket-configuration "LocationConstraint=$region" >/dev/null
  fi
  aws s3api put-public-access-block --bucket "$bucket" --region "$region" \
    --public-access-block-configuration \
    BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
  aws s3api put-bucket-encryption --bucket "$bucket" --region "$region" \
    --server-side-encryption-configuration \
    '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
fi

aws cloudformation package --region "$region" \
  --template-file "$root/infra/template.yaml" \
  --s3-bucket "$bucket" --s3-prefix "$stack" \
  --output-template-file "$root/build/packaged.yaml"

overrides=()
[ $# -gt 0 ] && overrides=(--parameter-overrides "$@")
aws cloudformation deploy --region "$region" \
  --template-file "$root/build/packaged.yaml" \
  --stack-name "$stack" \
  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
  --no-fail-on-empty-changeset \
  "${overrides[@]}"

aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output table
