#!/usr/bin/env python3
"""Regenerate spec-trimmed.json from a full copy of Stripe's openapi/spec3.json.

    python3 tools/trim.py /path/to/spec3.json spec-trimmed.json \
        --repository https://github.com/stripe/openapi --commit <sha> [--path openapi/spec3.json]

Keeps only the operations in OPERATIONS, with their path/query parameters and their
application/x-www-form-urlencoded request-body schema. Every "$ref" is inlined. Only keys that
matter for checking a form request are kept (KEEP); descriptions, titles, encodings and
responses are dropped. Subtrees listed in PRUNE are replaced by {"x-trimmed": true}, which the
checker accepts without looking inside (they are large and unused by this project).
Output: sorted keys, one-space indent, so re-pins diff cleanly.
"""
import argparse, json, sys

OPERATIONS = [
    ("post", "/v1/products"),
    ("post", "/v1/prices"),
    ("get", "/v1/prices/{price}"),
    ("post", "/v1/prices/{price}"),
    ("post", "/v1/checkout/sessions"),
    ("post", "/v1/subscriptions"),
    ("get", "/v1/subscriptions/{subscription_exposed_id}"),
    ("post", "/v1/subscriptions/{subscription_exposed_id}"),
    ("delete", "/v1/subscriptions/{subscription_exposed_id}"),
    ("post", "/v1/invoices/create_preview"),
    ("get", "/v1/invoices"),
    ("get", "/v1/invoices/{invoice}"),
    ("post", "/v1/invoices/{invoice}/pay"),
    ("post", "/v1/invoices/{invoice}/void"),
    ("post", "/v1/invoices/{invoice}/mark_uncollectible"),
    ("post", "/v1/subscription_schedules"),
    ("get", "/v1/subscription_schedules/{schedule}"),
    ("post", "/v1/subscription_schedules/{schedule}"),
    ("post", "/v1/subscription_schedules/{schedule}/release"),
    ("post", "/v1/subscription_schedules/{schedule}/cancel"),
    ("get", "/v1/customers/{customer}"),
    ("post", "/v1/customers"),
    ("post", "/v1/billing_portal/configurations"),
    ("get", "/v1/billing_portal/configurations/{configuration}"),
    ("post", "/v1/billing_portal/configurations/{configuration}"),
    ("post", "/v1/billing_portal/sessions"),
]

# (method, path template, property path inside the request body) -> replaced by x-trimmed.
PRUNE = [
    ("post", "/v1/checkout/sessions", ["payment_method_options"]),
    ("post", "/v1/checkout/sessions", ["shipping_address_collection"]),
    ("post", "/v1/subscriptions", ["payment_settings"]),
    ("post", "/v1/subscriptions/{subscription_exposed_id}", ["payment_settings"]),
    ("post", "/v1/invoices/create_preview", ["schedule_details"]),
    ("post", "/v1/invoices/create_preview", ["customer_details", "tax_ids"]),
    ("post", "/v1/customers", ["tax_id_data"]),
]

KEEP = {"type", "enum", "properties", "items", "additionalProperties", "anyOf", "oneOf",
        "maxLength", "format", "required", "deprecated", "x-stripeBypassValidation"}


def resolve(spec, node, seen=()):
    if isinstance(node, list):
        return [resolve(spec, x, seen) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise SystemExit(f"recursive $ref {ref}")
        target = spec
        for part in ref.lstrip("#/").split("/"):
            target = target[part]
        return resolve(spec, target, seen + (ref,))
    out = {}
    for k, v in node.items():
        if k not in KEEP:
            continue
        if k == "properties":
            out[k] = {name: resolve(spec, sub, seen) for name, sub in v.items()}
        else:
            out[k] = resolve(spec, v, seen)
    return out


def prune(schema, prop_path):
    node = schema
    for name in prop_path[:-1]:
        node = node["properties"][name]
    node["properties"][prop_path[-1]] = {"x-trimmed": True}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("full_spec")
    ap.add_argument("out")
    ap.add_argument("--repository", default="https://github.com/stripe/openapi")
    ap.add_argument("--commit", required=True)
    ap.add_argument("--path", default="openapi/spec3.json")
    a = ap.parse_args()
    spec = json.load(open(a.full_spec))
    paths = {}
    for method, tmpl in OPERATIONS:
        op = spec["paths"].get(tmpl, {}).get(method)
        if op is None:
            print(f"warning: {method.upper()} {tmpl} not in this spec", file=sys.stderr)
            continue
        out = {}
        params = [
            {"in": p["in"], "name": p["name"], "required": p.get("required", False),
             "schema": resolve(spec, p.get("schema", {}))}
            for p in (resolve_param(spec, p) for p in op.get("parameters", []))
            if p["in"] in ("path", "query")
        ]
        if params:
            out["parameters"] = params
        body = op.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded", {}).get("schema")
        if body is not None:
            out["requestBody"] = {"content": {"application/x-www-form-urlencoded": {"schema": resolve(spec, body)}}}
        if op.get("deprecated"):
            out["deprecated"] = True
        paths.setdefault(tmpl, {})[method] = out
    for method, tmpl, prop_path in PRUNE:
        try:
            prune(paths[tmpl][method]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"], prop_path)
        except KeyError:
            print(f"warning: nothing to prune at {method.upper()} {tmpl} {'.'.join(prop_path)}", file=sys.stderr)
    doc = {
        "openapi": spec.get("openapi", "3.0.0"),
        "info": {"title": "Stripe API (trimmed)", "version": spec["info"]["version"], "x-version-read-from-file": True,
                 "x-source": {"repository": a.repository, "commit": a.commit, "path": a.path, "method": "tools/trim.py"}},
        "paths": paths,
    }
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")


def resolve_param(spec, p):
    if "$ref" in p:
        target = spec
        for part in p["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return target
    return p


if __name__ == "__main__":
    main()
