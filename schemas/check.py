#!/usr/bin/env python3
"""Check the commons record schemas and test vectors with a second implementation.

    python3 schemas/check.py

* every schema in schemas/records/ is a valid JSON Schema (draft 2020-12);
* every vector's record matches envelope.schema.json and its payload the
  kind's payload schema, and mutated copies (an extra field) do not;
* every invalid payload in vectors.json is refused by its schema, except
  those marked rust_only, which break a rule JSON Schema cannot express and
  must therefore pass the schema (so the marks stay honest);
* the canonical JSON is reproduced with Python's json module: record and
  signed_message are re-encoded byte for byte;
* with the `cryptography` package, the public keys are derived from the
  seeds and the signatures verified; with `blake3`, the ids are recomputed.

Needs the `jsonschema` package; without it the script says so and exits 0,
so it can run anywhere. Exits 1 if anything fails.
"""

import copy
import json
import sys
from pathlib import Path

RECORDS = Path(__file__).resolve().parent / "records"


def canonical(value):
    """Mirror's canonical JSON (governance/src/canonical.rs) for values read
    from JSON: sorted keys, no whitespace, integers only, and only quote,
    backslash and control characters escaped."""

    def reject_floats(v, path="$"):
        if isinstance(v, float):
            raise ValueError(f"float at {path}")
        if isinstance(v, dict):
            for k, item in v.items():
                if not k.isascii():
                    raise ValueError(f"non-ASCII key {k!r} at {path}")
                reject_floats(item, f"{path}.{k}")
        elif isinstance(v, list):
            for i, item in enumerate(v):
                reject_floats(item, f"{path}[{i}]")

    reject_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# Strict ed25519, the checks libsodium and Mirror make beyond the equation
# OpenSSL checks (S < L, then R compared as encoded with [S]B - [k]A):
# neither the key nor R of small order. RFC 8032 point arithmetic, in the
# clear: this is a test, not a signer.
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1, 1, 0)


def point_add(p, q):
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * p[3] * q[3] * D % P
    d = 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def point_mul(s, p):
    q = IDENTITY
    while s > 0:
        if s & 1:
            q = point_add(q, p)
        p = point_add(p, p)
        s >>= 1
    return q


def is_identity(p):
    return p[0] % P == 0 and (p[1] - p[2]) % P == 0


def decompress(b):
    y = int.from_bytes(b, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else (0, y, 1, 0)
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if (x & 1) != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def not_small_order(b):
    """On the curve and not of small order ([8]P is not the identity)."""
    p = decompress(b)
    return p is not None and not is_identity(point_mul(8, p))


def strict_refusal(record_text, domain, verify):
    """Why a strict implementation refuses a record, naming the field, or
    None. `verify(key, signature, message)` checks the ed25519 equation (or
    is None, when cryptography is missing)."""
    try:
        record = json.loads(record_text)
        if canonical(record) != record_text:
            return "record", "not canonical"
    except ValueError as e:
        field = str(e).rsplit(".", 1)[-1] if "float" in str(e) else "record"
        return field, str(e)
    author = bytes.fromhex(record["author"])
    signature = bytes.fromhex(record["signature"])
    if not not_small_order(author):
        return "author", "a small-order key"
    if int.from_bytes(signature[32:], "little") >= L:
        return "signature", "S is not reduced"
    if not not_small_order(signature[:32]):
        return "signature", "R is of small order"
    unsigned = {k: v for k, v in record.items() if k != "signature"}
    if verify is not None and not verify(author, signature, (domain + canonical(unsigned)).encode("utf-8")):
        return "signature", "does not verify"
    return None


def main():
    try:
        import jsonschema
    except ImportError:
        print("schemas/check.py: the jsonschema package is not installed; skipping (pip install jsonschema)")
        return 0
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        Ed25519PrivateKey = None
    try:
        import blake3
    except ImportError:
        blake3 = None

    failures = []

    def fail(message):
        failures.append(message)

    validators = {}
    for path in sorted(RECORDS.glob("*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            fail(f"{path.name}: not a valid schema: {e.message}")
            continue
        name = path.name.removesuffix(".schema.json")
        validators[name] = jsonschema.Draft202012Validator(schema)

    envelope = validators["envelope"]
    kinds = envelope.schema["properties"]["kind"]["enum"]
    for kind in kinds:
        if f"{kind}.payload" not in validators:
            fail(f"no payload schema for kind {kind}")

    def errors(name, instance):
        return [e.message for e in validators[name].iter_errors(instance)]

    vectors = json.loads((RECORDS / "vectors.json").read_text(encoding="utf-8"))
    domain = vectors["signing_domain"]
    seen_kinds = set()
    for v in vectors["vectors"]:
        name = v["name"]
        seen_kinds.add(v["kind"])
        record_text = v["record"]
        record = json.loads(record_text)

        for problem in errors("envelope", record):
            fail(f"{name}: envelope: {problem}")
        for problem in errors(f"{record['kind']}.payload", record["payload"]):
            fail(f"{name}: payload: {problem}")
        if record["payload"] != v["payload"] or record["kind"] != v["kind"]:
            fail(f"{name}: record does not hold the vector's kind and payload")
        if record["created_at"] != v["created_at"] or record["author"] != v["public_key"]:
            fail(f"{name}: record does not hold the vector's created_at and key")

        # Strictness: one extra field anywhere at the top is refused.
        extra = copy.deepcopy(record)
        extra["surprise"] = 1
        if not errors("envelope", extra):
            fail(f"{name}: envelope accepted an unknown field")
        payload = copy.deepcopy(record["payload"])
        payload["surprise"] = 1
        if not errors(f"{record['kind']}.payload", payload):
            fail(f"{name}: payload schema accepted an unknown field")

        # The canonical form, by a second implementation.
        if canonical(record) != record_text:
            fail(f"{name}: record is not canonical as re-encoded by Python")
        unsigned = {k: val for k, val in record.items() if k != "signature"}
        message = domain + canonical(unsigned)
        if message != v["signed_message"]:
            fail(f"{name}: signed_message differs from domain + canonical(unsigned record)")
        if record["signature"] != v["signature"]:
            fail(f"{name}: record carries another signature")

        if Ed25519PrivateKey is not None:
            key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["seed"]))
            public = key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            if public.hex() != v["public_key"]:
                fail(f"{name}: public key is not the seed's")
            # Ed25519 is deterministic: signing again gives the same bytes.
            if key.sign(message.encode("utf-8")).hex() != v["signature"]:
                fail(f"{name}: signature differs when re-signed from the seed")
        if blake3 is not None:
            if blake3.blake3(record_text.encode("utf-8")).hexdigest() != v["id"]:
                fail(f"{name}: id is not blake3 of the record")

    for kind in kinds:
        if kind not in seen_kinds:
            fail(f"no vector for kind {kind}")

    for case in vectors["invalid_payloads"]:
        problems = errors(f"{case['kind']}.payload", case["payload"])
        if case["rust_only"] and problems:
            fail(f"invalid payload {case['name']} is marked rust_only but the schema refuses it: {problems}")
        if not case["rust_only"] and not problems:
            fail(f"invalid payload {case['name']} passes the {case['kind']} schema")

    verify = None
    if Ed25519PrivateKey is not None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        def verify(key, signature, message):
            try:
                Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
                return True
            except (InvalidSignature, ValueError):
                return False

    # Every vector passes the strict checks; every invalid record fails them
    # on the field the file names (the equation alone, as OpenSSL checks it,
    # would accept some: that is why they are here).
    for v in vectors["vectors"]:
        why = strict_refusal(v["record"], domain, verify)
        if why is not None:
            fail(f"{v['name']}: refused by the strict checks: {why}")
    for case in vectors.get("invalid_records", []):
        why = strict_refusal(case["record"], domain, verify)
        if why is None:
            fail(f"invalid record {case['name']} passes the strict checks")
        elif why[0] != case["field"]:
            fail(f"invalid record {case['name']}: refused on {why[0]} ({why[1]}), the file names {case['field']}")

    checked = [
        f"{len(validators)} schemas",
        f"{len(vectors['vectors'])} vectors",
        f"{len(vectors['invalid_payloads'])} invalid payloads",
        f"{len(vectors.get('invalid_records', []))} invalid records",
        "signatures" if Ed25519PrivateKey else "no signatures (cryptography not installed)",
        "ids" if blake3 else "no ids (blake3 not installed)",
    ]
    if failures:
        for message in failures:
            print(f"FAIL {message}", file=sys.stderr)
        print(f"schemas/check.py: {len(failures)} failures ({', '.join(checked)})", file=sys.stderr)
        return 1
    print(f"schemas/check.py: ok ({', '.join(checked)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
