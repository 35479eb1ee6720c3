#!/usr/bin/env python3
"""py-delegating-agent is an AI agent written as people write them, in Python: it gets its identity
from the SPIFFE Workload API with py-spiffe (PyPI "spiffe", not hallmark's code) and acts for a user
by RFC 8693 token exchange at hallmark's token endpoint, with nothing but the standard library.

    py-delegating-agent.py --token-endpoint URL --spiffe-id ID --subject-token-file FILE
                           --audience AUD --scope SCOPE [--subject-token-type TYPE] [--timeout S]

The Workload API socket is SPIFFE_ENDPOINT_SOCKET, as for every workload. The agent fetches its
JWT-SVID for the token endpoint's URL (the actor token) and its trust domain's X.509 bundle, which
is the only CA it trusts for the endpoint's HTTPS. One JSON line on stdout: the HTTP status and the
endpoint's JSON answer; exit status 0 when a token was issued, 1 otherwise.
"""
import argparse
import json
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

from cryptography.hazmat.primitives.serialization import Encoding
from spiffe import SpiffeId, WorkloadApiClient

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--token-endpoint", required=True)
    parser.add_argument("--spiffe-id", required=True, help="which of the workload's identities acts")
    parser.add_argument("--subject-token-file", required=True, help="the user's token (or a parent delegation token)")
    parser.add_argument("--subject-token-type", default=JWT_TYPE)
    parser.add_argument("--audience", required=True)
    parser.add_argument("--scope", required=True)
    parser.add_argument("--timeout", type=float, default=10)
    args = parser.parse_args()

    me = SpiffeId(args.spiffe_id)
    with WorkloadApiClient(default_timeout=args.timeout) as client:
        actor_token = client.fetch_jwt_svid(audience={args.token_endpoint}, subject=me).token
        bundle = client.fetch_x509_bundles().get_bundle_for_trust_domain(me.trust_domain)
    if bundle is None:
        print(json.dumps({"status": 0, "body": {"error": "no X.509 bundle for " + str(me.trust_domain)}}))
        return 1
    tls = ssl.create_default_context(
        cadata="".join(c.public_bytes(Encoding.PEM).decode() for c in bundle.x509_authorities)
    )
    with open(args.subject_token_file, encoding="utf-8") as f:
        subject_token = f.read().strip()
    form = urllib.parse.urlencode({
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": args.subject_token_type,
        "actor_token": actor_token,
        "actor_token_type": JWT_TYPE,
        "audience": args.audience,
        "scope": args.scope,
    }).encode()
    request = urllib.request.Request(args.token_endpoint, data=form, method="POST")
    try:
        with urllib.request.urlopen(request, context=tls, timeout=args.timeout) as response:
            status, body = response.status, json.load(response)
    except urllib.error.HTTPError as err:
        status, body = err.code, json.load(err)
    print(json.dumps({"status": status, "body": body}))
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
