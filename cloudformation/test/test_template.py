"""The template's security shape, evaluated for real parameter choices.

Parses cloudformation/image-handler.yaml with cfn-lint's decoder, resolves it
for a set of parameter values the way CloudFormation would (conditions,
Fn::If, Fn::Sub, Fn::Split, Fn::Select, Fn::Join; other resources stay
symbolic as "<Name>" or "<Name.Attr>"), then asserts on the IAM policies,
buckets and CloudFront settings of that stack. Each checker is also run on a
deliberately broken copy, so that it is known to catch what it looks for.

    python3 -m unittest discover -s cloudformation/test -v
"""

import copy
import json
import re
import unittest
from pathlib import Path

from cfnlint.decode import decode_str

HERE = Path(__file__).resolve().parent
TEMPLATE_PATH = HERE.parent / "image-handler.yaml"
ACCOUNT, REGION, PARTITION = "123456789012", "eu-west-1", "aws"
STACK = "images"
NO_VALUE = object()


def load_template():
    template, matches = decode_str(TEMPLATE_PATH.read_text())
    assert not matches, matches
    return template


TEMPLATE = load_template()


def parameters(**overrides):
    values = {name: p.get("Default") for name, p in TEMPLATE["Parameters"].items()}
    values.update(
        ArtifactBucket="artifacts-bucket",
        FunctionZipKey="image-handler/function-abc.zip",
        LayerZipKey="image-handler/layer-def.zip",
        SourceBuckets="photos-bucket",
    )
    values.update(overrides)
    for name, value in values.items():
        assert value is not None, f"parameter {name} needs a value"
        allowed = TEMPLATE["Parameters"][name].get("AllowedValues")
        if allowed:
            assert str(value) in [str(a) for a in allowed], (name, value)
        pattern = TEMPLATE["Parameters"][name].get("AllowedPattern")
        if pattern:
            assert re.fullmatch(pattern, str(value)), (name, value, pattern)
    return {k: str(v) for k, v in values.items()}


class Stack:
    """The template resolved for one set of parameter values."""

    def __init__(self, template, params, region=REGION):
        self.template = template
        self.params = params
        self.pseudo = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": region,
            "AWS::Partition": PARTITION,
            "AWS::StackName": STACK,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/8e4e7c30-0c2b-11ef-9d6b-0a1b2c3d4e5f",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.conditions = {}
        for name in template.get("Conditions", {}):
            self.condition(name)
        self.resources = {}
        for name, res in template["Resources"].items():
            cond = res.get("Condition")
            if cond is None or self.condition(cond):
                self.resources[name] = {
                    "Type": res["Type"],
                    "Properties": self.resolve(res.get("Properties", {})),
                    "DependsOn": res.get("DependsOn"),
                }
        self.outputs = {
            name: self.resolve(out["Value"])
            for name, out in template.get("Outputs", {}).items()
            if "Condition" not in out or self.condition(out["Condition"])
        }

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self.conditions[name]

    def ref(self, name):
        if name in self.params:
            return self.params[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        assert name in self.template["Resources"], f"Ref to unknown {name}"
        res = self.template["Resources"][name]
        assert "Condition" not in res or self.condition(res["Condition"]), f"Ref to {name}, which this stack does not create"
        return f"<{name}>"

    def getatt(self, name, attr):
        res = self.template["Resources"][name]
        assert "Condition" not in res or self.condition(res["Condition"]), f"GetAtt of {name}, which this stack does not create"
        if res["Type"] == "AWS::Lambda::Url" and attr == "FunctionUrl":
            return f"https://<{name}.{attr}>/"
        return f"<{name}.{attr}>"

    def sub(self, text, extra):
        def value(match):
            key = match.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in extra:
                return str(extra[key])
            if "." in key:
                return self.getatt(*key.split(".", 1))
            return str(self.ref(key))

        return re.sub(r"\$\{([^}]*)\}", value, text)

    def resolve(self, node):
        if isinstance(node, list):
            items = [self.resolve(n) for n in node]
            return [i for i in items if i is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.getatt(name, attr)
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.condition(cond) else no)
            if key == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if key == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                text, extra = arg
                return self.sub(text, {k: self.resolve(v) for k, v in extra.items()})
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(index)]
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(i) for i in self.resolve(items))
        out = {}
        for k, v in node.items():
            r = self.resolve(v)
            if r is not NO_VALUE:
                out[k] = r
        return out

    def rule_failures(self):
        """The AssertDescription of every rule assertion these parameters fail."""
        failures = []
        for rule in self.template.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.resolve(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self.resolve(assertion["Assert"]):
                    failures.append(assertion["AssertDescription"])
        return failures

    def of_type(self, kind):
        return {n: r for n, r in self.resources.items() if r["Type"] == kind}

    def role_statements(self):
        """(role, statement) for every statement of every role the stack creates."""
        for name, role in self.of_type("AWS::IAM::Role").items():
            for policy in role["Properties"].get("Policies", []):
                for st in as_list(policy["PolicyDocument"]["Statement"]):
                    yield name, st


def as_list(v):
    return v if isinstance(v, list) else [v]


# ---------------------------------------------------------------- checkers


def wildcard_allow_problems(stack):
    problems = []
    for role, st in stack.role_statements():
        if st["Effect"] != "Allow":
            continue
        for action in as_list(st["Action"]):
            if "*" in action:
                problems.append(f"{role}: wildcard action {action}")
        for resource in as_list(st["Resource"]):
            if resource == "*":
                problems.append(f"{role}: {st.get('Sid')} on every resource")
        if "NotAction" in st or "NotResource" in st:
            problems.append(f"{role}: NotAction/NotResource in an Allow")
    return problems


def s3_problems(stack):
    """Object access only under the origins' bucket/prefix entries (OriginS3Paths),
    else the source buckets under SourcePrefix, and the fallback object."""
    buckets = [b for b in stack.params["SourceBuckets"].split(",") if b]
    prefix = stack.params["SourcePrefix"]
    paths = [p for p in stack.params["OriginS3Paths"].split(",") if p]
    if paths:
        allowed_objects = {f"arn:aws:s3:::{p}*" for p in paths}
    else:
        allowed_objects = {f"arn:aws:s3:::{b}/{prefix}*" for b in buckets}
    fallback_bucket = stack.params["FallbackImageS3Bucket"] or (None if stack.params["Origins"] else buckets[0])
    if stack.params["EnableDefaultFallbackImage"] == "Yes" and fallback_bucket:
        allowed_objects.add(f"arn:aws:s3:::{fallback_bucket}/{stack.params['FallbackImageS3Key']}")
    allowed_buckets = {f"arn:aws:s3:::{b}" for b in buckets}
    problems = []
    for role, st in stack.role_statements():
        if st["Effect"] != "Allow":
            continue
        for action in as_list(st["Action"]):
            if not action.startswith("s3:"):
                continue
            if action == "s3:ListBucket":
                problems.append(f"{role}: s3:ListBucket is not needed (missing keys already answer 404)")
            for resource in as_list(st["Resource"]):
                wanted = allowed_buckets if action in ("s3:GetBucketNotification", "s3:PutBucketNotification") else allowed_objects
                if resource not in wanted:
                    problems.append(f"{role}: {action} on {resource}")
    return problems


def secret_problems(stack):
    """GetSecretValue on the signing secret when signing is on, and on the
    OriginSecrets; on nothing else."""
    def arn(name):
        return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-??????"

    want = []
    if stack.params["EnableSignature"] == "Yes":
        want.append(("ImageFunctionRole", ["secretsmanager:GetSecretValue"], [arn(stack.params["SecretsManagerSecret"])]))
    origin_secrets = [n for n in stack.params["OriginSecrets"].split(",") if n]
    if origin_secrets:
        want.append(("ImageFunctionRole", ["secretsmanager:GetSecretValue"], [arn(n) for n in origin_secrets]))
    found = [(r, st) for r, st in stack.role_statements() if any(a.startswith("secretsmanager:") for a in as_list(st["Action"]))]
    if warming(stack) and stack.params["EnableSignature"] == "Yes":
        # warm URLs are signed with the same secret
        want.append(("InvalidationFunctionRole", ["secretsmanager:GetSecretValue"], [arn(stack.params["SecretsManagerSecret"])]))
    got = [(r, as_list(st["Action"]), as_list(st["Resource"])) for r, st in found]
    return [] if got == want else [f"secrets access is not GetSecretValue on exactly {want}: {got}"]


def kms_problems(stack):
    found = [st for _, st in stack.role_statements() if any(a.startswith("kms:") for a in as_list(st["Action"]))]
    key = stack.params["KmsKeyArn"]
    if not key:
        return [f"kms access without KmsKeyArn: {found}"] if found else []
    if len(found) != 1 or as_list(found[0]["Action"]) != ["kms:Decrypt"] or as_list(found[0]["Resource"]) != [key] or "Condition" not in found[0]:
        return [f"kms access is not Decrypt on {key} through S3/Secrets Manager: {found}"]
    return []


def warming(stack):
    return stack.params["InvalidateOnOverwrite"] == "Yes" and stack.params["WarmPresets"] != ""


def invalidation_problems(stack):
    found = [(r, st) for r, st in stack.role_statements() if any(a.startswith("cloudfront:") for a in as_list(st["Action"]))]
    if stack.params["InvalidateOnOverwrite"] != "Yes":
        return [f"cloudfront access while InvalidateOnOverwrite is off: {found}"] if found else []
    # warming reads the invalidation's status, and nothing more
    actions = ["cloudfront:CreateInvalidation"] + (["cloudfront:GetInvalidation"] if warming(stack) else [])
    want = [("InvalidationFunctionRole", actions, ["arn:aws:cloudfront::123456789012:distribution/<Distribution>"])]
    got = [(r, as_list(st["Action"]), as_list(st["Resource"])) for r, st in found]
    return [] if got == want else [f"cloudfront access is not CreateInvalidation on this distribution only: {got}"]


def log_problems(stack):
    """Each role writes only to its own function's log group."""
    problems = []
    functions = stack.of_type("AWS::Lambda::Function")
    own = {}
    for fn in functions.values():
        role = fn["Properties"]["Role"].strip("<>").split(".")[0]
        group = fn["Properties"].get("LoggingConfig", {}).get("LogGroup")
        own[role] = group
    for role, st in stack.role_statements():
        for action in as_list(st["Action"]):
            if not action.startswith("logs:"):
                continue
            if action == "logs:CreateLogGroup":
                problems.append(f"{role}: may create log groups")
            group = own.get(role)
            if group is None or as_list(st["Resource"]) != [f"<{group.strip('<>')}.Arn>"]:
                problems.append(f"{role}: {action} on {st['Resource']}, not its function's own log group {group}")
    return problems


def bucket_problems(stack):
    problems = []
    policies = {p["Properties"]["Bucket"]: p["Properties"]["PolicyDocument"] for p in stack.of_type("AWS::S3::BucketPolicy").values()}
    for name, bucket in stack.of_type("AWS::S3::Bucket").items():
        props = bucket["Properties"]
        block = props.get("PublicAccessBlockConfiguration", {})
        for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            if block.get(flag) is not True:
                problems.append(f"{name}: {flag} is not on")
        if not props.get("BucketEncryption"):
            problems.append(f"{name}: not encrypted")
        if not props.get("OwnershipControls"):
            problems.append(f"{name}: no ownership controls")
        if not props.get("LifecycleConfiguration"):
            problems.append(f"{name}: no lifecycle rule")
        doc = policies.get(f"<{name}>")
        tls = [
            st for st in as_list((doc or {}).get("Statement", []))
            if st["Effect"] == "Deny"
            and st.get("Principal") == "*"
            and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            and set(as_list(st["Resource"])) >= {f"<{name}.Arn>", f"<{name}.Arn>/*"}
            and "s3:*" in as_list(st["Action"])
        ]
        if not tls:
            problems.append(f"{name}: no TLS-only bucket policy")
    return problems


CHECKERS = [wildcard_allow_problems, s3_problems, secret_problems, kms_problems, invalidation_problems, log_problems, bucket_problems]

MIGRATION_ORIGINS = json.dumps({"site": {"http": "https://www.example.com/", "cache_control": "pass"}, "bucket": {"s3": "example-images"}})
MIGRATION_MAPPINGS = json.dumps([{"path": "/uploads/", "origin": "bucket", "strip_prefix": True}, {"path": "/", "origin": "site"}])

SIGNING_AND_FALLBACK = dict(
    EnableSignature="Yes",
    SecretsManagerSecret="image-handler/signing",
    SecretsManagerKey="signatureKey",
    EnableDefaultFallbackImage="Yes",
    FallbackImageS3Bucket="fallback-bucket",
    FallbackImageS3Key="errors/missing.png",
)
CUSTOM_DOMAINS = dict(
    DomainNames="img.example.com,images.example.com",
    AcmCertificateArn="arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555",
)

VARIANTS = {
    "defaults": {},
    "everything": dict(
        SourceBuckets="photos-bucket,archive.example.com,third-bucket",
        SourcePrefix="public/",
        **SIGNING_AND_FALLBACK,
        KmsKeyArn="arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ReservedConcurrency="50",
        AlarmEmail="ops@example.com",
        InvalidateOnOverwrite="Yes",
        **CUSTOM_DOMAINS,
        WebAclArn="arn:aws:wafv2:us-east-1:123456789012:global/webacl/images/abcd",
        OriginShieldRegion="eu-west-1",
        DeployPlayground="Yes",
        CorsEnabled="Yes",
    ),
    "function-url": dict(OriginType="FunctionUrl"),
    "playground": dict(DeployPlayground="Yes", CorsEnabled="Yes"),
    "function-url-everything": dict(OriginType="FunctionUrl", InvalidateOnOverwrite="Yes", EnableSignature="Yes", SecretsManagerSecret="s", SecretsManagerKey="k"),
    "warming": dict(InvalidateOnOverwrite="Yes", Presets='{"thumb":"width=300"}', WarmPresets="thumb"),
    "warming-signed": dict(
        InvalidateOnOverwrite="Yes", Presets='{"thumb":"width=300","card":"width=600"}', WarmPresets="thumb,card",
        WarmAccept="webp,other", EnableSignature="Yes", SecretsManagerSecret="image-handler/signing", SecretsManagerKey="signatureKey",
    ),
    "fallback-in-first-source-bucket": dict(SourceBuckets="a-bucket,b-bucket", EnableDefaultFallbackImage="Yes", FallbackImageS3Key="fallback.jpg"),
    "ten-buckets": dict(SourceBuckets=",".join(f"bucket-{i:02d}" for i in range(10))),
    # docs/deployment.md's "Migrating from a web server"
    "origins": dict(SourceBuckets="example-images", Origins=MIGRATION_ORIGINS, Mappings=MIGRATION_MAPPINGS),
    "origins-everything": dict(
        SourceBuckets="pics,archive",
        Origins=json.dumps({
            "pics": {"s3": "pics", "prefix": "public/"},
            "archive": {"s3": "archive"},
            "legacy": {"http": "https://img.example.com/", "headers": {"Authorization": "secret:origin/legacy#token", "X-Key": "secret:origin/other"}},
        }),
        Mappings=json.dumps([{"host": "img.example.com", "origin": "legacy"}, {"path": "/archive/", "origin": "archive", "strip_prefix": True}, {"path": "/", "origin": "pics"}]),
        OriginS3Paths="pics/public/,archive/",
        OriginSecrets="origin/legacy,origin/other",
        **SIGNING_AND_FALLBACK,
        **CUSTOM_DOMAINS,
    ),
    # Invalidation on change with mappings (no header secrets: a Rule).
    "origins-invalidation": dict(
        SourceBuckets="pics",
        Origins=json.dumps({"pics": {"s3": "pics", "prefix": "public/"}}),
        Mappings=json.dumps([{"path": "/p/", "origin": "pics", "strip_prefix": True}]),
        InvalidateOnOverwrite="Yes",
    ),
    "origins-http-only": dict(SourceBuckets="", Origins=json.dumps({"site": {"http": "https://www.example.com/"}})),
    "origins-fallback-through-origins": dict(
        SourceBuckets="", Origins=MIGRATION_ORIGINS, Mappings=MIGRATION_MAPPINGS, OriginS3Paths="example-images/",
        EnableDefaultFallbackImage="Yes", FallbackImageS3Key="uploads/missing.png",
    ),
}


def stack(**overrides):
    return Stack(TEMPLATE, parameters(**overrides))


class SecurityShape(unittest.TestCase):
    def test_every_variant_passes_every_checker(self):
        for name, overrides in VARIANTS.items():
            s = stack(**overrides)
            for checker in CHECKERS:
                with self.subTest(variant=name, checker=checker.__name__):
                    self.assertEqual(checker(s), [])

    def test_every_variant_satisfies_the_rules(self):
        for name, overrides in VARIANTS.items():
            with self.subTest(variant=name):
                self.assertEqual(stack(**overrides).rule_failures(), [])

    def test_origin_arns_are_exact(self):
        def statement(s, sid):
            found = [st for _, st in s.role_statements() if st.get("Sid") == sid]
            return found[0] if found else None

        s = stack(**VARIANTS["origins-everything"])
        self.assertEqual(statement(s, "ReadOriginals")["Resource"], ["arn:aws:s3:::pics/public/*", "arn:aws:s3:::archive/*"])
        self.assertEqual(statement(s, "ReadOriginHeaderSecrets")["Resource"], [
            f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:origin/legacy-??????",
            f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:origin/other-??????",
        ])
        self.assertEqual(statement(s, "ReadFallbackImage")["Resource"], "arn:aws:s3:::fallback-bucket/errors/missing.png")
        ten = stack(Origins=MIGRATION_ORIGINS, OriginS3Paths=",".join(f"bucket-{i}/p{i}/" for i in range(10)),
                    OriginSecrets=",".join(f"s{i}" for i in range(10)))
        self.assertEqual(statement(ten, "ReadOriginals")["Resource"], [f"arn:aws:s3:::bucket-{i}/p{i}/*" for i in range(10)])
        self.assertEqual(statement(ten, "ReadOriginHeaderSecrets")["Resource"],
                         [f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:s{i}-??????" for i in range(10)])
        # with Origins but no OriginS3Paths: SourceBuckets under SourcePrefix, as without Origins
        s = stack(**VARIANTS["origins"], SourcePrefix="img/")
        self.assertEqual(statement(s, "ReadOriginals")["Resource"], ["arn:aws:s3:::example-images/img/*"])
        self.assertIsNone(statement(s, "ReadOriginHeaderSecrets"))
        # HTTP origins only: no S3 at all
        s = stack(**VARIANTS["origins-http-only"])
        self.assertEqual([st for _, st in s.role_statements() if any(a.startswith("s3:") for a in as_list(st["Action"]))], [])
        # a fallback without its own bucket is read through the origins, under ReadOriginals
        s = stack(**VARIANTS["origins-fallback-through-origins"])
        self.assertIsNone(statement(s, "ReadFallbackImage"))
        self.assertEqual(statement(s, "ReadOriginals")["Resource"], ["arn:aws:s3:::example-images/*"])

    def test_origin_parameter_patterns(self):
        paths = TEMPLATE["Parameters"]["OriginS3Paths"]["AllowedPattern"]
        for good in ["", "pics/", "pics/public/", "a-bucket/p,b.bucket/", ",".join(f"bucket-{i}/" for i in range(10))]:
            self.assertIsNotNone(re.fullmatch(paths, good), good)
        for bad in ["pics", "pics/*", "pics/a, b/", "arn:aws:s3:::pics/", "pics/,", ",".join(f"bucket-{i}/" for i in range(11))]:
            self.assertIsNone(re.fullmatch(paths, bad), bad)
        secrets = TEMPLATE["Parameters"]["OriginSecrets"]["AllowedPattern"]
        for good in ["", "a", "origin/legacy,origin/other", ",".join(f"s{i}" for i in range(10))]:
            self.assertIsNotNone(re.fullmatch(secrets, good), good)
        for bad in ["a,", "a, b", "arn:aws:secretsmanager:eu-west-1:1:secret:a", "*", ",".join(f"s{i}" for i in range(11))]:
            self.assertIsNone(re.fullmatch(secrets, bad), bad)

    def test_source_bucket_arns_are_exact(self):
        s = stack(**VARIANTS["everything"])
        read = [st for r, st in s.role_statements() if st.get("Sid") == "ReadOriginals"]
        self.assertEqual(
            read[0]["Resource"],
            ["arn:aws:s3:::photos-bucket/public/*", "arn:aws:s3:::archive.example.com/public/*", "arn:aws:s3:::third-bucket/public/*"],
        )
        ten = stack(**VARIANTS["ten-buckets"])
        read = [st for r, st in ten.role_statements() if st.get("Sid") == "ReadOriginals"][0]
        self.assertEqual(read["Resource"], [f"arn:aws:s3:::bucket-{i:02d}/*" for i in range(10)])
        fallback = [st for r, st in stack(**VARIANTS["fallback-in-first-source-bucket"]).role_statements() if st.get("Sid") == "ReadFallbackImage"]
        self.assertEqual(fallback[0]["Resource"], "arn:aws:s3:::a-bucket/fallback.jpg")

    def test_parameter_patterns_refuse_bad_bucket_lists(self):
        pattern = TEMPLATE["Parameters"]["SourceBuckets"]["AllowedPattern"]
        for bad in ["a, b", "UPPER", "a,", ",".join(f"bucket-{i:02d}" for i in range(11))]:
            self.assertIsNone(re.fullmatch(pattern, bad), bad)
        self.assertIsNone(re.fullmatch(TEMPLATE["Parameters"]["SecretsManagerSecret"]["AllowedPattern"], "arn:aws:secretsmanager:x"))


class CheckersCatchMistakes(unittest.TestCase):
    """Each checker fails on a template broken in the way it looks for."""

    def broken(self, mutate, **overrides):
        template = copy.deepcopy(TEMPLATE)
        mutate(template)
        return Stack(template, parameters(**overrides))

    def statements(self, template, role="ImageFunctionRole"):
        return template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]

    def test_wildcards(self):
        s = self.broken(lambda t: self.statements(t).append({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::photos-bucket/*"}))
        self.assertTrue(wildcard_allow_problems(s))
        s = self.broken(lambda t: self.statements(t).append({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}))
        self.assertTrue(wildcard_allow_problems(s))

    def test_s3_outside_source_buckets(self):
        s = self.broken(lambda t: self.statements(t).append({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::someone-else/*"}))
        self.assertTrue(s3_problems(s))
        s = self.broken(lambda t: self.statements(t).append({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::photos-bucket"}))
        self.assertTrue(s3_problems(s))

    def test_origin_secret_without_origin_secrets(self):
        def unconditional(t):
            st = self.statements(t)
            for i, item in enumerate(st):
                if isinstance(item, dict) and "Fn::If" in item and item["Fn::If"][0] == "HasOriginSecrets":
                    st[i] = item["Fn::If"][1]
        self.assertEqual(secret_problems(self.broken(unconditional, Origins=MIGRATION_ORIGINS, OriginSecrets="one")), [])
        self.assertTrue(secret_problems(self.broken(unconditional, Origins=MIGRATION_ORIGINS, OriginSecrets="")))

    def test_s3_beyond_origin_paths(self):
        def whole_buckets(t):
            for item in self.statements(t):
                if isinstance(item, dict) and "Fn::If" in item and item["Fn::If"][0] == "ReadsOriginals":
                    paths = item["Fn::If"][1]["Resource"]["Fn::If"][1]
                    paths[0] = {"Fn::Sub": ["arn:${AWS::Partition}:s3:::${Bucket}/*", {"Bucket": "pics"}]}
        self.assertTrue(s3_problems(self.broken(whole_buckets, **VARIANTS["origins-everything"])))
        self.assertEqual(s3_problems(self.broken(lambda t: None, **VARIANTS["origins-everything"])), [])

    def test_secret_when_signing_is_off(self):
        def unconditional(t):
            st = self.statements(t)
            for i, item in enumerate(st):
                if isinstance(item, dict) and "Fn::If" in item and item["Fn::If"][0] == "SigningOn":
                    st[i] = item["Fn::If"][1]
        self.assertTrue(secret_problems(self.broken(unconditional)))
        self.assertEqual(secret_problems(self.broken(lambda t: None)), [])

    def test_kms_and_cloudfront_without_their_options(self):
        s = self.broken(lambda t: self.statements(t).append({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:eu-west-1:123456789012:key/x"}))
        self.assertTrue(kms_problems(s))
        s = self.broken(lambda t: self.statements(t).append({"Effect": "Allow", "Action": "cloudfront:CreateInvalidation", "Resource": "arn:aws:cloudfront::123456789012:distribution/E1"}))
        self.assertTrue(invalidation_problems(s))

    def test_logs_outside_own_group(self):
        s = self.broken(lambda t: self.statements(t).append({"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": {"Fn::Sub": "arn:aws:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/*"}}))
        self.assertTrue(log_problems(s))

    def test_bucket_without_protections(self):
        def unprotect(t):
            t["Resources"]["LogBucket"]["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] = False
            del t["Resources"]["LogBucketPolicy"]
        problems = bucket_problems(self.broken(unprotect))
        self.assertTrue(any("BlockPublicPolicy" in p for p in problems), problems)
        self.assertTrue(any("TLS-only" in p for p in problems), problems)


class Behaviour(unittest.TestCase):
    def test_function(self):
        s = stack()
        fn = s.resources["ImageFunction"]["Properties"]
        self.assertEqual(fn["Runtime"], "provided.al2023")
        self.assertEqual(fn["Architectures"], ["x86_64"])
        self.assertEqual(fn["Handler"], "bootstrap")
        self.assertEqual(fn["Timeout"], 29)
        self.assertEqual(fn["MemorySize"], "1769")
        self.assertEqual(fn["Layers"], ["<LibvipsLayer>"])
        self.assertNotIn("ReservedConcurrentExecutions", fn)
        self.assertEqual(stack(ReservedConcurrency="25").resources["ImageFunction"]["Properties"]["ReservedConcurrentExecutions"], "25")
        env = fn["Environment"]["Variables"]
        self.assertEqual(env["SOURCE_BUCKETS"], "photos-bucket")
        self.assertEqual(env["AUTO_FORMAT"], "avif,webp")
        self.assertEqual(env["ERROR_MAX_AGE"], "10")
        self.assertNotIn("MAX_RESPONSE_BYTES", env, "API Gateway: the binary's own 6 MB default")
        self.assertEqual(env["LAMBDA_INVOKE_MODE"], "BUFFERED")
        url = stack(OriginType="FunctionUrl").resources["ImageFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual((url["LAMBDA_INVOKE_MODE"], url["MAX_RESPONSE_BYTES"]), ("RESPONSE_STREAM", "20971520"))
        for name in ("ORIGINS", "MAPPINGS", "VIEWER_HOST_HEADER"):
            self.assertNotIn(name, env)

    def test_function_with_origins(self):
        env = stack(**VARIANTS["origins"]).resources["ImageFunction"]["Properties"]["Environment"]["Variables"]
        # the service refuses SOURCE_BUCKETS beside ORIGINS
        self.assertNotIn("SOURCE_BUCKETS", env)
        self.assertEqual((env["ORIGINS"], env["MAPPINGS"]), (MIGRATION_ORIGINS, MIGRATION_MAPPINGS))
        self.assertEqual(env["VIEWER_HOST_HEADER"], "x-viewer-host")
        # one origin: MAPPINGS may be left out
        env = stack(**VARIANTS["origins-http-only"]).resources["ImageFunction"]["Properties"]["Environment"]["Variables"]
        self.assertNotIn("MAPPINGS", env)
        self.assertNotIn("SOURCE_BUCKETS", env)
        self.assertEqual(env["ORIGINS"], VARIANTS["origins-http-only"]["Origins"])
        s = stack(**VARIANTS["origins-http-only"])
        self.assertNotIn("SourceBuckets", s.outputs)
        # the invalidation function maps a changed object to its paths through the same origins
        variant = VARIANTS["origins-invalidation"]
        env = stack(**variant).resources["InvalidationFunction"]["Properties"]["Environment"]["Variables"]
        self.assertNotIn("SOURCE_BUCKETS", env)
        self.assertEqual((env["ORIGINS"], env["MAPPINGS"]), (variant["Origins"], variant["Mappings"]))
        env = stack(**VARIANTS["warming"]).resources["InvalidationFunction"]["Properties"]["Environment"]["Variables"]
        self.assertNotIn("ORIGINS", env)
        self.assertIn("SOURCE_BUCKETS", env)

    def test_rules(self):
        def failures(**overrides):
            return stack(**overrides).rule_failures()

        self.assertEqual(failures(SourceBuckets=""), ["SourceBuckets is needed unless Origins names the origins."])
        self.assertEqual(failures(Mappings=MIGRATION_MAPPINGS), ["Mappings needs Origins (the rules name its origins)."])
        self.assertEqual(len(failures(OriginS3Paths="pics/")), 1)
        self.assertIn("OriginS3Paths needs Origins", failures(OriginS3Paths="pics/")[0])
        self.assertEqual(failures(OriginSecrets="s"), ["OriginSecrets needs Origins (its HTTP origins' headers name the secrets)."])
        self.assertIn(
            "InvalidateOnOverwrite=Yes does not work with OriginSecrets yet: the invalidation function would need those secrets to start.",
            failures(InvalidateOnOverwrite="Yes", Origins=MIGRATION_ORIGINS, OriginSecrets="s"),
        )
        self.assertEqual(failures(SourceBuckets="", Origins=MIGRATION_ORIGINS, InvalidateOnOverwrite="Yes"),
                         ["InvalidateOnOverwrite=Yes needs SourceBuckets, the buckets whose changes it watches."])
        self.assertEqual(failures(Origins=MIGRATION_ORIGINS, Mappings=MIGRATION_MAPPINGS, SourceBuckets=""), [])
        self.assertEqual(failures(EnableSignature="Yes"), ["EnableSignature=Yes needs SecretsManagerSecret.", "EnableSignature=Yes needs SecretsManagerKey."])

    def test_every_parameter_is_used(self):
        text = json.dumps(TEMPLATE["Resources"]) + json.dumps(TEMPLATE["Outputs"]) + json.dumps(TEMPLATE["Conditions"])
        for name in TEMPLATE["Parameters"]:
            self.assertRegex(text, r'"Ref": "%s"|\$\{%s\}' % (name, name), name)

    def test_cache_key(self):
        policy = stack().resources["CachePolicy"]["Properties"]["CachePolicyConfig"]
        self.assertEqual((policy["MinTTL"], policy["DefaultTTL"], policy["MaxTTL"]), (0, 86400, 31536000))
        key = policy["ParametersInCacheKeyAndForwardedToOrigin"]
        # the client hints as the viewer-request function normalises them (only for auto URLs)
        hints = ["sec-ch-dpr", "sec-ch-width"]
        self.assertEqual(key["HeadersConfig"], {"HeaderBehavior": "whitelist", "Headers": ["accept", *hints]})
        self.assertEqual(key["QueryStringsConfig"], {"QueryStringBehavior": "all"})
        self.assertEqual(key["CookiesConfig"], {"CookieBehavior": "none"})
        self.assertIs(key["EnableAcceptEncodingGzip"], False)
        self.assertIs(key["EnableAcceptEncodingBrotli"], False)
        # with Origins the viewer's host is in the key, and so reaches the function
        for variant in ("origins", "origins-everything", "origins-http-only"):
            key = stack(**VARIANTS[variant]).resources["CachePolicy"]["Properties"]["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]
            self.assertEqual(key["HeadersConfig"], {"HeaderBehavior": "whitelist", "Headers": ["accept", *hints, "x-viewer-host"]}, variant)
        # without, every domain of the distribution shares one entry per variant
        key = stack(**VARIANTS["everything"]).resources["CachePolicy"]["Properties"]["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]
        self.assertEqual(key["HeadersConfig"]["Headers"], ["accept", *hints])
        # the origin sees nothing beyond the key, and the normalised hints are named there too
        origin = stack().resources["OriginRequestPolicy"]["Properties"]["OriginRequestPolicyConfig"]
        self.assertEqual(origin["HeadersConfig"], {"HeaderBehavior": "whitelist", "Headers": hints})
        self.assertEqual(
            [origin["QueryStringsConfig"]["QueryStringBehavior"], origin["CookiesConfig"]["CookieBehavior"]],
            ["none"] * 2,
        )

    def test_client_hint_breakpoints(self):
        # one set of lists for the service and the viewer-request function
        env = stack().resources["ImageFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(env["WIDTH_BREAKPOINTS"], "320,480,640,750,828,1080,1200,1600,1920,2048,2560,3840")
        self.assertEqual(env["DPR_BREAKPOINTS"], "1,1.5,2,3")
        s = stack(WidthBreakpoints="400,800", DprBreakpoints="1,2")
        env = s.resources["ImageFunction"]["Properties"]["Environment"]["Variables"]
        code = s.resources["ViewerRequestFunction"]["Properties"]["FunctionCode"]
        self.assertEqual((env["WIDTH_BREAKPOINTS"], env["DPR_BREAKPOINTS"]), ("400,800", "1,2"))
        self.assertIn("var WIDTH_BREAKPOINTS = '400,800';", code)
        self.assertIn("var DPR_BREAKPOINTS = '1,2';", code)
        # the patterns keep the lists numbers (they are written into the function's code)
        for name, good, bad in [
            ("WidthBreakpoints", ["320", "320,640,1280", ",".join(["65535"] * 32)], ["", "320,", "a", "320;alert(1)", "3.5", ",".join(["1"] * 33), "320, 640"]),
            ("DprBreakpoints", ["1", "1,1.5,2,3", "1.125"], ["", "1,", "1.", "1.1234", "'", "10", "1,2'"]),
        ]:
            pattern = re.compile(TEMPLATE["Parameters"][name]["AllowedPattern"])
            for v in good:
                self.assertTrue(pattern.fullmatch(v), (name, v))
            for v in bad:
                self.assertFalse(pattern.fullmatch(v), (name, v))

    def test_distribution(self):
        for variant in ("defaults", "function-url", "everything"):
            s = stack(**VARIANTS[variant])
            d = s.resources["Distribution"]["Properties"]["DistributionConfig"]
            b = d["DefaultCacheBehavior"]
            self.assertEqual(b["ViewerProtocolPolicy"], "redirect-to-https")
            self.assertEqual((b["AllowedMethods"], b["CachedMethods"]), (["GET", "HEAD"], ["GET", "HEAD"]))
            self.assertIs(b["Compress"], True)
            self.assertEqual(b["FunctionAssociations"], [{"EventType": "viewer-request", "FunctionARN": "<ViewerRequestFunction.FunctionMetadata.FunctionARN>"}])
            self.assertEqual((d["HttpVersion"], d["IPV6Enabled"]), ("http2and3", True))
            self.assertEqual(d["Logging"]["Bucket"], "<LogBucket.DomainName>")
            errors = {e["ErrorCode"]: e["ErrorCachingMinTTL"] for e in d["CustomErrorResponses"]}
            self.assertEqual(set(errors), {400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504})
            self.assertEqual(set(errors.values()), {"10"})
            (origin,) = d["Origins"]
            self.assertEqual(origin["CustomOriginConfig"]["OriginProtocolPolicy"], "https-only")
        d = stack(**VARIANTS["everything"]).resources["Distribution"]["Properties"]["DistributionConfig"]
        self.assertEqual(d["Origins"][0]["OriginShield"], {"Enabled": True, "OriginShieldRegion": "eu-west-1"})
        self.assertEqual(d["ViewerCertificate"]["MinimumProtocolVersion"], "TLSv1.2_2021")
        self.assertEqual(d["Aliases"], ["img.example.com", "images.example.com"])
        self.assertNotIn("OriginShield", stack().resources["Distribution"]["Properties"]["DistributionConfig"]["Origins"][0])

    def test_rest_api_origin(self):
        s = stack()
        api = s.resources["RestApi"]["Properties"]
        self.assertEqual((api["EndpointConfiguration"]["Types"], api["BinaryMediaTypes"]), (["REGIONAL"], ["*/*"]))
        methods = s.of_type("AWS::ApiGateway::Method")
        self.assertEqual(sorted(m["Properties"]["HttpMethod"] for m in methods.values()), ["GET", "GET", "HEAD", "HEAD"])
        for m in methods.values():
            self.assertEqual(m["Properties"]["Integration"]["Type"], "AWS_PROXY")
        stage = s.resources["ApiStage"]["Properties"]
        fmt = json.loads(stage["AccessLogSetting"]["Format"])
        self.assertIn("$context.requestId", fmt.values())
        self.assertNotIn("FunctionUrl", s.resources)
        origin = s.resources["Distribution"]["Properties"]["DistributionConfig"]["Origins"][0]
        self.assertEqual((origin["DomainName"], origin["OriginPath"]), (f"<RestApi>.execute-api.{REGION}.amazonaws.com", "/image"))
        for name in ("RestApiGetPermission", "RestApiHeadPermission"):
            self.assertRegex(s.resources[name]["Properties"]["SourceArn"], r":<RestApi>/image/(GET|HEAD)/\*$")

    def test_function_url_origin(self):
        s = stack(OriginType="FunctionUrl")
        self.assertEqual(s.resources["FunctionUrl"]["Properties"]["AuthType"], "AWS_IAM")
        self.assertEqual(s.resources["FunctionUrl"]["Properties"]["InvokeMode"], "RESPONSE_STREAM")
        self.assertFalse(s.of_type("AWS::ApiGateway::RestApi"))
        origin = s.resources["Distribution"]["Properties"]["DistributionConfig"]["Origins"][0]
        self.assertEqual(origin["OriginAccessControlId"], "<FunctionUrlOriginAccessControl.Id>")
        self.assertNotIn("OriginPath", origin)
        for name in ("FunctionUrlCloudFrontPermission", "FunctionUrlCloudFrontInvokePermission"):
            p = s.resources[name]["Properties"]
            self.assertEqual(p["Principal"], "cloudfront.amazonaws.com")
            self.assertEqual(p["SourceArn"], f"arn:aws:cloudfront::{ACCOUNT}:distribution/<Distribution>")

    def test_invalidation_on_overwrite(self):
        self.assertFalse([n for n in stack().resources if "Invalidation" in n or "BucketNotifications" in n])
        s = stack(**VARIANTS["everything"])
        env = s.resources["InvalidationFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual((env["INVALIDATE_ON_CHANGE"], env["DISTRIBUTION_ID"]), ("Yes", "<Distribution>"))
        custom = s.resources["BucketNotifications"]["Properties"]
        self.assertEqual(custom["Buckets"], ["photos-bucket", "archive.example.com", "third-bucket"])
        self.assertEqual(custom["Prefix"], "public/")
        self.assertEqual(s.resources["BucketNotificationsFunction"]["Properties"]["Handler"], "bucket_notifications.handler")

    def test_warming_on_upload(self):
        # off: the invalidation function is as it was
        plain = stack(**VARIANTS["everything"]).resources["InvalidationFunction"]["Properties"]
        self.assertEqual(plain["Timeout"], 60)
        self.assertFalse([k for k in plain["Environment"]["Variables"] if k.startswith("WARM_") or k in ("PRESETS", "ENABLE_SIGNATURE")])
        s = stack(**VARIANTS["warming-signed"])
        fn = s.resources["InvalidationFunction"]["Properties"]
        self.assertEqual(fn["Timeout"], 300)
        env = fn["Environment"]["Variables"]
        self.assertEqual(
            {k: env[k] for k in ("WARM_PRESETS", "WARM_ACCEPT", "DISTRIBUTION_DOMAIN", "PRESETS", "AUTO_FORMAT", "ENABLE_SIGNATURE", "SECRETS_MANAGER", "SECRET_KEY")},
            {
                "WARM_PRESETS": "thumb,card", "WARM_ACCEPT": "webp,other", "DISTRIBUTION_DOMAIN": "<Distribution.DomainName>",
                "PRESETS": '{"thumb":"width=300","card":"width=600"}', "AUTO_FORMAT": "avif,webp",
                "ENABLE_SIGNATURE": "Yes", "SECRETS_MANAGER": "image-handler/signing", "SECRET_KEY": "signatureKey",
            },
        )
        # the S3 notifications are the invalidation's own: nothing new is wired
        self.assertEqual(s.resources["BucketNotifications"]["Properties"]["FunctionArn"], "<InvalidationFunction.Arn>")
        unsigned = stack(**VARIANTS["warming"]).resources["InvalidationFunction"]["Properties"]["Environment"]["Variables"]
        self.assertNotIn("ENABLE_SIGNATURE", unsigned)
        for rule in ("WarmingNeedsInvalidationAndPresets",):
            self.assertIn(rule, TEMPLATE["Rules"])
        pattern = TEMPLATE["Parameters"]["WarmAccept"]["AllowedPattern"]
        for bad in ["jpeg", "avif,", "avif, webp"]:
            self.assertIsNone(re.fullmatch(pattern, bad), bad)

    def test_alarms(self):
        names = set(stack().of_type("AWS::CloudWatch::Alarm"))
        self.assertEqual(names, {"FunctionErrorsAlarm", "FunctionThrottlesAlarm", "FunctionDurationAlarm", "Origin5xxAlarmRestApi"})
        # CloudFront's metrics can be alarmed on in us-east-1 only
        east = set(Stack(TEMPLATE, parameters(), region="us-east-1").of_type("AWS::CloudWatch::Alarm"))
        self.assertEqual(east, {"FunctionErrorsAlarm", "FunctionThrottlesAlarm", "FunctionDurationAlarm", "CloudFront5xxAlarm"})
        url = set(stack(OriginType="FunctionUrl").of_type("AWS::CloudWatch::Alarm"))
        self.assertIn("Origin5xxAlarmFunctionUrl", url)
        for alarm in stack().of_type("AWS::CloudWatch::Alarm").values():
            self.assertEqual(alarm["Properties"]["AlarmActions"], ["<AlarmTopic>"])
        self.assertIn("InvalidationDeadLetterAlarm", stack(**VARIANTS["everything"]).of_type("AWS::CloudWatch::Alarm"))
        self.assertIn("AlarmEmailSubscription", stack(**VARIANTS["everything"]).resources)

    def test_outputs(self):
        out = stack().outputs
        self.assertEqual(out["ApiEndpoint"], "https://<Distribution.DomainName>")
        self.assertEqual(out["DistributionId"], "<Distribution>")
        self.assertEqual(out["CloudFrontLoggingBucket"], "<LogBucket>")
        self.assertEqual(stack(**VARIANTS["everything"]).outputs["ImageUrl"], "https://img.example.com")

    def test_playground(self):
        off = stack()
        self.assertFalse([n for n in off.resources if n.startswith("Playground")])
        self.assertFalse([n for n in off.outputs if n.startswith("Playground")])
        # the page reads the images' headers from its own origin: the rule asks for CORS
        rule = TEMPLATE["Rules"]["PlaygroundNeedsCors"]
        self.assertEqual(rule["RuleCondition"], {"Fn::Equals": [{"Ref": "DeployPlayground"}, "Yes"]})
        self.assertEqual([a["Assert"] for a in rule["Assertions"]], [{"Fn::Equals": [{"Ref": "CorsEnabled"}, "Yes"]}])
        for variant, images in (("playground", "https://<Distribution.DomainName>"), ("everything", "https://img.example.com")):
            s = stack(**VARIANTS[variant])
            self.assertEqual(s.resources["ImageFunction"]["Properties"]["Environment"]["Variables"]["CORS_ENABLED"], "Yes")
            d = s.resources["PlaygroundDistribution"]["Properties"]["DistributionConfig"]
            (origin,) = d["Origins"]
            self.assertEqual(origin["DomainName"], "<PlaygroundBucket.RegionalDomainName>")
            self.assertEqual(origin["OriginAccessControlId"], "<PlaygroundOriginAccessControl.Id>")
            self.assertEqual(origin["S3OriginConfig"], {"OriginAccessIdentity": ""}, "origin access control, not an OAI")
            self.assertFalse(s.of_type("AWS::CloudFront::CloudFrontOriginAccessIdentity"))
            oac = s.resources["PlaygroundOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
            self.assertEqual((oac["OriginAccessControlOriginType"], oac["SigningBehavior"], oac["SigningProtocol"]), ("s3", "always", "sigv4"))
            self.assertEqual(d["DefaultRootObject"], "index.html")
            b = d["DefaultCacheBehavior"]
            self.assertEqual((b["ViewerProtocolPolicy"], b["AllowedMethods"]), ("redirect-to-https", ["GET", "HEAD"]))
            self.assertEqual(d["Logging"]["Bucket"], "<LogBucket.DomainName>")
            headers = s.resources["PlaygroundResponseHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
            csp = headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]
            self.assertIn(f"connect-src 'self' {images};", csp)
            self.assertIn("script-src 'self';", csp)
            # the bucket is private: only this distribution may read it, only objects
            doc = s.resources["PlaygroundBucketPolicy"]["Properties"]["PolicyDocument"]
            allows = [st for st in doc["Statement"] if st["Effect"] == "Allow"]
            self.assertEqual(allows, [{
                "Sid": "AllowPlaygroundDistribution",
                "Effect": "Allow",
                "Principal": {"Service": "cloudfront.amazonaws.com"},
                "Action": "s3:GetObject",
                "Resource": "<PlaygroundBucket.Arn>/*",
                "Condition": {"StringEquals": {"AWS:SourceArn": f"arn:aws:cloudfront::{ACCOUNT}:distribution/<PlaygroundDistribution>"}},
            }])
            bucket = s.resources["PlaygroundBucket"]["Properties"]
            self.assertEqual(bucket["OwnershipControls"], {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
            self.assertEqual(s.outputs["PlaygroundUrl"], "https://<PlaygroundDistribution.DomainName>")
            self.assertEqual(s.outputs["PlaygroundBucketName"], "<PlaygroundBucket>")
        # the checker notices a public playground bucket
        broken = stack(**VARIANTS["playground"])
        broken.resources["PlaygroundBucket"]["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] = False
        self.assertEqual(bucket_problems(broken), ["PlaygroundBucket: RestrictPublicBuckets is not on"])


if __name__ == "__main__":
    unittest.main()
