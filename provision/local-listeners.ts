/** A listener block of a server or agent config, on the loopback address. */
export interface LocalListener {
  readonly bind_address: "127.0.0.1";
  readonly bind_port: number;
}

/**
 * The `health_checks` and `metrics` blocks of a config hallmark sets up for itself, on 127.0.0.1 at
 * the ports given; a port left out gives no block (that listener is off).
 */
export function localListeners(ports: { readonly healthPort?: number; readonly metricsPort?: number }): {
  health_checks?: LocalListener;
  metrics?: LocalListener;
} {
  const at = (port: number): LocalListener => ({ bind_address: "127.0.0.1", bind_port: port });
  return {
    ...(ports.healthPort === undefined ? {} : { health_checks: at(ports.healthPort) }),
    ...(ports.metricsPort === undefined ? {} : { metrics: at(ports.metricsPort) }),
  };
}
