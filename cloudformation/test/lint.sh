#!/usr/bin/env bash
# cfn-lint and checkov on cloudformation/image-handler.yaml, as written and
# with its optional parts switched on (checkov only scans resources whose
# conditions hold for the parameter defaults). Both must report nothing.
#
#   cloudformation/test/lint.sh     CHECKOV=path/to/checkov to choose one
set -euo pipefail
cd "$(dirname "$0")/../.."
checkov=${CHECKOV:-checkov}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp" <<'PY'
import re, sys
text = open("cloudformation/image-handler.yaml").read()
def with_defaults(**values):
    out = text
    for name, value in values.items():
        out, n = re.subn(r"(\n  %s:\n(?:    .*\n)*?    Default: )[^\n]*" % name, lambda m: m.group(1) + value, out, count=1)
        assert n == 1, name
    return out
everything = dict(SourceBuckets="photos-bucket,archive-bucket", InvalidateOnOverwrite="'Yes'", Presets="'{\"thumb\":\"width=300\"}'", WarmPresets="thumb", DeployPlayground="'Yes'", CorsEnabled="'Yes'", EnableSignature="'Yes'", SecretsManagerSecret="image-handler/signing",
                  SecretsManagerKey="signatureKey", EnableDefaultFallbackImage="'Yes'", FallbackImageS3Key="fallback.png",
                  KmsKeyArn="arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                  ReservedConcurrency="'50'", AlarmEmail="ops@example.com", OriginShieldRegion="eu-west-1",
                  DomainNames="img.example.com", WebAclArn="arn:aws:wafv2:us-east-1:123456789012:global/webacl/images/abcd",
                  AcmCertificateArn="arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555")
# Named origins: with everything else on (IAM from OriginS3Paths), and HTTP
# origins only (no source bucket, no S3 access, a header secret).
def quoted(value):
    return "'%s'" % value
origins = dict(Origins=quoted('{"site": {"http": "https://www.example.com/"}, "bucket": {"s3": "example-images", "prefix": "public/"}}'),
               Mappings=quoted('[{"host": "img.example.com", "origin": "bucket"}, {"path": "/uploads/", "origin": "bucket", "strip_prefix": true}, {"path": "/", "origin": "site"}]'),
               OriginS3Paths="example-images/public/")
# A header secret rules out InvalidateOnOverwrite (a Rule), so it is linted here.
http_origins = dict(SourceBuckets=quoted(""), OriginSecrets="origin/site",
                    Origins=quoted('{"site": {"http": "https://www.example.com/", "headers": {"Authorization": "secret:origin/site#token"}}}'))
open(f"{sys.argv[1]}/rest-api-everything.yaml", "w").write(with_defaults(**everything))
open(f"{sys.argv[1]}/function-url-everything.yaml", "w").write(with_defaults(OriginType="FunctionUrl", **everything))
open(f"{sys.argv[1]}/rest-api-origins-everything.yaml", "w").write(with_defaults(**everything, **origins))
open(f"{sys.argv[1]}/function-url-http-origins.yaml", "w").write(with_defaults(OriginType="FunctionUrl", **http_origins))
PY
templates=(cloudformation/image-handler.yaml "$tmp"/*.yaml)
cfn-lint "${templates[@]}"
for t in "${templates[@]}"; do
  "$checkov" -f "$t" --framework cloudformation --skip-download --quiet --compact
done
echo "cloudformation/test/lint.sh: cfn-lint and checkov clean on ${#templates[@]} templates"
