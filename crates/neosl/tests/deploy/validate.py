"""Validates the deployment files against the Kubernetes and Compose schemas (from their
packages, offline) and prints them as JSON for the Rust test's consistency checks.

Usage: validate.py KUBERNETES_YAML COMPOSE_YAML DOCKER_COMPOSE_WHEEL
"""
import json
import sys
import zipfile

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.37.0"


def main():
    k8s_path, compose_path, wheel = sys.argv[1:4]
    errors = []
    with open(k8s_path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    for doc in docs:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{name}: {e.message} at {list(e.path)}")
        except Exception as e:  # an unknown kind or version
            errors.append(f"{name}: {e}")
    schema = json.loads(zipfile.ZipFile(wheel).read("compose/config/compose_spec.json"))
    with open(compose_path) as f:
        compose = yaml.safe_load(f)
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft201909Validator)(schema)
    for e in validator.iter_errors(compose):
        errors.append(f"compose: {e.message} at {list(e.path)}")
    print(json.dumps({"errors": errors, "kubernetes": docs, "compose": compose}))


if __name__ == "__main__":
    main()
