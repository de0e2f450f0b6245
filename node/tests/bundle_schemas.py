"""The JSON Schema side of node/tests/bundle_schemas.rs: validate each case's
line against its bundle schema with python-jsonschema (Draft 2020-12, the
formats asserted), as any other implementation would read a bundle.

  bundle_schemas.py CASES.json   CASES: [{"schema": path, "line": text}]

Prints a JSON list, one entry per case: null when the schema accepts the
line, else the validator's first message.
"""

import json
import sys

from jsonschema import Draft202012Validator, FormatChecker

validators = {}
out = []
for case in json.load(open(sys.argv[1])):
    path = case["schema"]
    if path not in validators:
        validators[path] = Draft202012Validator(
            json.load(open(path)), format_checker=FormatChecker()
        )
    try:
        record = json.loads(case["line"])
    except ValueError as e:
        out.append(f"not JSON: {e}")
        continue
    error = next(iter(validators[path].iter_errors(record)), None)
    out.append(None if error is None else f"{list(error.absolute_path)}: {error.message}")
print(json.dumps(out))
