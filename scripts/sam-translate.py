"""The SAM template FILE as CloudFormation will deploy it (AWS::Serverless::* expanded into roles,
policies, permissions and mappings), written as JSON to OUT, offline.

cfn-lint lints a SAM template's own resources; what the transform generates (the functions'
roles and their inline policies, for one) it checks only when given the output, so
scripts/infra-check.sh lints that too. The code locations are replaced by a placeholder S3
location (the transform requires one; `sam validate` does the same), and managed policies are
not looked up (the templates name none by name).

    python scripts/sam-translate.py FILE OUT   # with the pinned aws-sam-cli's python
"""
import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The transform's lookup of managed policy names, which needs IAM: none is named."""

    def load(self):
        return {}


def main(source, out):
    with open(source, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion"):
            properties = resource.setdefault("Properties", {})
            key = "ContentUri" if resource["Type"].endswith("LayerVersion") else "CodeUri"
            properties[key] = "s3://placeholder-bucket/placeholder-key"
    translated = transform(template, {}, NoManagedPolicies())
    with open(out, "w", encoding="utf-8") as f:
        json.dump(translated, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: sam-translate.py FILE OUT")
    main(sys.argv[1], sys.argv[2])
