/**
 * Chooses the address this server advertises to peers and to Traefik.
 *
 * @module
 */

/** Inputs of {@linkcode detectAdvertiseAddress}; all optional. */
export interface AdvertiseAddressOptions {
  /** `--advertise-addr`: wins when set. */
  advertiseAddr?: string;
  /** `--bind-addr`: used when it is a specific address rather than a wildcard. */
  bindAddr?: string;
  /** Environment lookup. @default Deno.env.get */
  env?: (name: string) => string | undefined;
  /** Interface list. @default Deno.networkInterfaces */
  interfaces?: () => Deno.NetworkInterfaceInfo[];
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const PREFERRED_INTERFACE = /^(eth|ens|enp)/;

/**
 * True when `text` is a dotted-quad IPv4 address.
 * @param text Candidate.
 * @returns Whether it is valid.
 */
export function isIPv4(text: string): boolean {
  return IPV4.test(text);
}

/**
 * Picks the advertise address: `--advertise-addr`; else a specific `--bind-addr`; else `POD_IP`
 * when it is a valid IPv4; else the first non-loopback IPv4, preferring interfaces named
 * eth*, ens* or enp*; else `127.0.0.1`.
 *
 * @param options The inputs.
 * @returns An address without port.
 */
export function detectAdvertiseAddress(options: AdvertiseAddressOptions = {}): string {
  if (options.advertiseAddr) return options.advertiseAddr;
  const bind = options.bindAddr;
  if (bind && bind !== "0.0.0.0" && bind !== "::" && bind !== "[::]") return bind;
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const podIp = env("POD_IP");
  if (podIp && isIPv4(podIp)) return podIp;
  let interfaces: Deno.NetworkInterfaceInfo[] = [];
  try {
    interfaces = (options.interfaces ?? Deno.networkInterfaces)();
  } catch {
    // No permission or no interfaces: fall back to loopback.
  }
  const candidates = interfaces.filter((info) =>
    info.family === "IPv4" && !info.address.startsWith("127.")
  );
  const preferred = candidates.find((info) => PREFERRED_INTERFACE.test(info.name));
  return (preferred ?? candidates[0])?.address ?? "127.0.0.1";
}
