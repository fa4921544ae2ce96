#!/usr/bin/python3
"""Check 'dsvmops schema' with a JSON Schema implementation.

usage: schema_check.py DSVMOPS DATA_DIR EXAMPLES_DIR

The schema must be valid draft-07; every document of the valid fixtures and
of examples/ must pass it, and a few broken documents must not. Exits 77
(skipped under ctest) when python3-jsonschema or python3-yaml is missing.
"""
import glob
import json
import os
import subprocess
import sys

try:
    import jsonschema
    import yaml
except ImportError:
    print("schema_check: python3-jsonschema or python3-yaml missing; skipped")
    sys.exit(77)


def docs(paths):
    for f in paths:
        if os.path.basename(f) in ("dsvmops.yaml", "dsvmops.yml"):
            continue
        with open(f) as fh:
            for doc in yaml.safe_load_all(fh):
                if doc is not None:
                    yield f, doc


def main():
    dsvmops, data, examples = sys.argv[1:4]
    schema = json.loads(subprocess.run([dsvmops, "schema"], check=True,
                                       capture_output=True).stdout)
    jsonschema.Draft7Validator.check_schema(schema)
    v = jsonschema.Draft7Validator(schema)
    files = sorted(glob.glob(os.path.join(data, "valid", "all-kinds", "**", "*.y*ml"),
                             recursive=True) +
                   glob.glob(os.path.join(examples, "**", "*.yaml"), recursive=True))
    n = 0
    for f, doc in docs(files):
        errs = list(v.iter_errors(doc))
        if errs:
            e = jsonschema.exceptions.best_match(errs)
            print(f"schema_check: {f}: {doc.get('kind')}: {e.message} at {list(e.path)}")
            return 1
        n += 1
    broken = [
        "apiVersion: dsvmops.io/v1\nkind: Pool\nmetadata: {name: p, resourceGroup: rg}\n"
        "spec: {mode: interactive, image: ubuntu-2204, vmsize: x, admin: {username: a}}\n",
        "apiVersion: dsvmops.io/v1\nkind: KeyVault\nmetadata: {name: kv, resourceGroup: rg}\n"
        "spec: {sku: gold}\n",
        "apiVersion: dsvmops.io/v1\nkind: DomainJoin\nmetadata: {name: corp}\n"
        "spec: {domain: corp.example.com, user: a@b, password: hunter2}\n",
        "apiVersion: dsvmops.io/v2\nkind: Identity\nmetadata: {name: id, resourceGroup: rg}\n",
    ]
    for text in broken:
        if not list(v.iter_errors(yaml.safe_load(text))):
            print(f"schema_check: the schema accepts a broken document:\n{text}")
            return 1
    print(f"schema_check: ok ({n} documents)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
