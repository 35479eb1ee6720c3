import { isIPv4, isIPv6 } from "node:net";
import { HallmarkError } from "../errors.js";

export class IpAddressError extends HallmarkError<"INVALID_IP_ADDRESS"> {}

/** The network-order octets of an IPv4 (4) or IPv6 (16) address, as an X.509 iPAddress SAN holds them. */
export function ipAddressBytes(text: string): Buffer {
  if (isIPv4(text)) return Buffer.from(text.split(".").map(Number));
  if (!isIPv6(text)) {
    throw new IpAddressError("INVALID_IP_ADDRESS", `"${text}" is not an IP address`, {
      category: "invalid_argument",
    });
  }
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups, then "::" is filled with zero groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  const hex =
    v4 === undefined
      ? text
      : text.slice(0, -v4.length) +
        ipAddressBytes(v4)
          .toString("hex")
          .replace(/^(.{4})/, "$1:");
  const [head = "", tail] = hex.split("::");
  const groups = (part: string): string[] => (part === "" ? [] : part.split(":"));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return Buffer.from(all.map((g) => g.padStart(4, "0")).join(""), "hex");
}

/** 0.0.0.0 and ::, which name every address of the host rather than one. */
export function isWildcardAddress(text: string): boolean {
  return ipAddressBytes(text).every((b) => b === 0);
}
