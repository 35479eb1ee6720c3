#!/usr/bin/env python3
"""py-spiffe-client checks a SPIFFE Workload API with py-spiffe (PyPI "spiffe"), the official Python
library, so hallmark's agent is judged by code it did not write.

    py-spiffe-client.py [--socket unix:///path/api.sock] [--audience AUD] [--watch-rotation SECONDS]
                        [--timeout SECONDS]

Without --socket, py-spiffe reads SPIFFE_ENDPOINT_SOCKET, as every workload does.

The checks: fetch_x509_context (py-spiffe parses each SVID and checks it is a SPIFFE leaf with its
key), each SVID's chain verified against its trust domain's bundle by `cryptography`'s X.509 path
validation (py-spiffe's own dependency; py-spiffe has no chain verifier of its own), with the
SPIFFE ID in the URI SAN; fetch_jwt_svid for the audience, validated by JwtSvid.parse_and_validate
against fetch_jwt_bundles and by the Workload API's validate_jwt_svid, and refused by both for
another audience; with --watch-rotation, stream_x509_contexts until the SVID's serial changes, and
the new SVID verified. One JSON summary on stdout; exit status 1 if any check failed.
"""
import argparse
import json
import sys
import threading
from typing import Any, Callable, Dict, List, Optional

from cryptography import x509
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store
from spiffe import JwtSvid, WorkloadApiClient, X509Svid
from spiffe.bundle.x509_bundle.x509_bundle_set import X509BundleSet
from spiffe.workloadapi.x509_context import X509Context

Fail = Callable[[str], None]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", help="Workload API address, unix:///path (default: $SPIFFE_ENDPOINT_SOCKET)")
    parser.add_argument("--audience", default="hallmark-interop", help="the JWT-SVID's audience")
    parser.add_argument("--watch-rotation", type=float, default=0, help="seconds to wait for a rotation (0: do not)")
    parser.add_argument("--timeout", type=float, default=30, help="deadline in seconds for each call")
    args = parser.parse_args()

    failures: List[str] = []
    summary: Dict[str, Any] = {"ok": False, "x509_svids": [], "x509_bundles": [], "jwt_svid": None,
                               "rotation": None, "failures": failures}
    socket = args.socket if args.socket is None or not args.socket.startswith("/") else "unix://" + args.socket
    try:
        client = WorkloadApiClient(socket_path=socket, default_timeout=args.timeout)
    except Exception as err:  # noqa: BLE001 - every failure goes into the summary
        failures.append(f"WorkloadApiClient: {err}")
        return finish(summary)
    with client:
        check_x509(client, summary, failures.append)
        check_jwt(client, args.audience, summary, failures.append)
        if args.watch_rotation > 0 and summary["x509_svids"]:
            summary["rotation"] = watch_rotation(client, summary["x509_svids"][0], args.watch_rotation,
                                                 failures.append)
    return finish(summary)


def finish(summary: Dict[str, Any]) -> int:
    summary["ok"] = not summary["failures"]
    print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


def serial_of(svid: X509Svid) -> str:
    return format(svid.leaf.serial_number, "X")


def verify_chain(svid: X509Svid, bundles: X509BundleSet) -> int:
    """Path validation of the SVID to its trust domain's X.509 authorities; returns the chain length.

    The SPIFFE profile, not the Web PKI's: any extensions on the leaf (its URI SAN may be critical),
    CA certificates need basicConstraints; signatures, validity, path length are all checked.
    """
    bundle = bundles.get_bundle_for_trust_domain(svid.spiffe_id.trust_domain)
    if bundle is None:
        raise ValueError(f"no X.509 bundle for {svid.spiffe_id.trust_domain}")
    ca_policy = ExtensionPolicy.permit_all().require_present(x509.BasicConstraints, Criticality.AGNOSTIC, None)
    verifier = (PolicyBuilder().store(Store(list(bundle.x509_authorities)))
                .extension_policies(ca_policy=ca_policy, ee_policy=ExtensionPolicy.permit_all())
                .build_client_verifier())
    verified = verifier.verify(svid.leaf, svid.cert_chain[1:])
    uris = [name.value for name in verified.subjects if isinstance(name, x509.UniformResourceIdentifier)]
    if uris != [str(svid.spiffe_id)]:
        raise ValueError(f"the verified leaf names {uris}, not {svid.spiffe_id}")
    return len(verified.chain)


def check_x509(client: WorkloadApiClient, summary: Dict[str, Any], fail: Fail) -> None:
    try:
        context: X509Context = client.fetch_x509_context()
    except Exception as err:  # noqa: BLE001
        fail(f"fetch_x509_context: {type(err).__name__}: {err}")
        return
    summary["x509_bundles"] = sorted(b.trust_domain.as_spiffe_id() for b in context.x509_bundle_set.bundles)
    for svid in context.x509_svids:
        entry = {"spiffe_id": str(svid.spiffe_id), "serial": serial_of(svid),
                 "expires_at": svid.leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "chain_length": len(svid.cert_chain), "verified_chain_length": 0}
        try:
            entry["verified_chain_length"] = verify_chain(svid, context.x509_bundle_set)
        except Exception as err:  # noqa: BLE001
            fail(f"chain of {svid.spiffe_id}: {type(err).__name__}: {err}")
        summary["x509_svids"].append(entry)


def check_jwt(client: WorkloadApiClient, audience: str, summary: Dict[str, Any], fail: Fail) -> None:
    try:
        svid = client.fetch_jwt_svid(audience={audience})
    except Exception as err:  # noqa: BLE001
        fail(f"fetch_jwt_svid: {type(err).__name__}: {err}")
        return
    entry = {"spiffe_id": str(svid.spiffe_id), "audience": sorted(svid.audience),
             "validated_by_library": False, "validated_by_workload_api": False, "other_audience_refused": False}
    summary["jwt_svid"] = entry
    other = audience + "-other"
    try:
        bundle = client.fetch_jwt_bundles().get_bundle_for_trust_domain(svid.spiffe_id.trust_domain)
        if bundle is None:
            raise ValueError(f"no JWT bundle for {svid.spiffe_id.trust_domain}")
        validated = JwtSvid.parse_and_validate(svid.token, bundle, {audience})
        if validated.spiffe_id != svid.spiffe_id:
            raise ValueError(f"the token's subject is {validated.spiffe_id}")
        entry["validated_by_library"] = True
        refused_locally = refuses(lambda: JwtSvid.parse_and_validate(svid.token, bundle, {other}))
    except Exception as err:  # noqa: BLE001
        fail(f"JwtSvid.parse_and_validate: {type(err).__name__}: {err}")
        refused_locally = True
    try:
        by_agent = client.validate_jwt_svid(svid.token, audience)
        if by_agent.spiffe_id != svid.spiffe_id:
            raise ValueError(f"the agent says {by_agent.spiffe_id}")
        entry["validated_by_workload_api"] = True
    except Exception as err:  # noqa: BLE001
        fail(f"validate_jwt_svid: {type(err).__name__}: {err}")
    refused_by_agent = refuses(lambda: client.validate_jwt_svid(svid.token, other))
    entry["other_audience_refused"] = refused_locally and refused_by_agent
    if not refused_locally:
        fail("JwtSvid.parse_and_validate accepted the token for another audience")
    if not refused_by_agent:
        fail("validate_jwt_svid accepted the token for another audience")


def refuses(call: Callable[[], Any]) -> bool:
    try:
        call()
    except Exception:  # noqa: BLE001 - any refusal counts
        return True
    return False


def watch_rotation(client: WorkloadApiClient, before: Dict[str, Any], limit: float, fail: Fail
                   ) -> Dict[str, Any]:
    report = {"spiffe_id": before["spiffe_id"], "old_serial": before["serial"], "new_serial": None,
              "verified": False}
    rotated: List[X509Context] = []
    seen = threading.Event()
    errors: List[str] = []

    def on_update(context: X509Context) -> None:
        for svid in context.x509_svids:
            if str(svid.spiffe_id) == before["spiffe_id"] and serial_of(svid) != before["serial"] and not seen.is_set():
                rotated.append(context)
                seen.set()

    handler = client.stream_x509_contexts(on_success=on_update, on_error=lambda err: errors.append(str(err)))
    try:
        if not seen.wait(limit):
            fail(f"no rotation of {before['spiffe_id']} (serial {before['serial']}) within {limit:g} s"
                 + (f"; stream errors: {errors}" if errors else ""))
            return report
    finally:
        handler.cancel()
    context = rotated[0]
    svid: Optional[X509Svid] = next(s for s in context.x509_svids if str(s.spiffe_id) == before["spiffe_id"])
    report["new_serial"] = serial_of(svid)
    try:
        verify_chain(svid, context.x509_bundle_set)
        report["verified"] = True
    except Exception as err:  # noqa: BLE001
        fail(f"chain of the rotated {svid.spiffe_id}: {type(err).__name__}: {err}")
    return report


if __name__ == "__main__":
    sys.exit(main())
