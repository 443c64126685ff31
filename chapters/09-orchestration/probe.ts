/**
 * One probe, once: is the container healthy (liveness) or ready for traffic (readiness)?
 * Three kinds, as kubelet has them:
 *
 *   httpGet    GET http://IP:PORT/PATH: a status from 200 to 399 is a success, anything
 *              else (a 404, a 500, a refused connection, no answer in time) a failure
 *   tcpSocket  a TCP connection opens in time: success (nothing is sent)
 *   exec       a command in the container (the CRI's ExecSync) exits 0 in time
 *
 * The agent runs the network probes itself, from the node, to the pod's IP (or 127.0.0.1 for
 * a pod on the host's network), as kubelet does: the container needs no probe tool inside.
 *
 * How real kubelet differs: it follows redirects to the same host, sends
 * `User-Agent: kube-probe/<version>`, reads at most 10 KiB of the body (kept as the message),
 * and has a gRPC probe too. Its failures say what happened in the words used below
 * ("HTTP probe failed with statuscode: 500").
 */
import http from 'node:http';
import net from 'node:net';
import { notImplemented } from '#lib/not-implemented.ts';

export interface ProbeResult {
  ok: boolean;
  /** Why it failed, for the Unhealthy event; "" on success. */
  message: string;
}

export interface HttpTarget {
  host: string;
  port: number;
  path: string;
  headers?: { name: string; value: string }[];
}

export const PROBE_USER_AGENT = 'kube-probe/1.30 (conman-agent)';

/** httpGet: one GET, no keep-alive (a new connection each time, as kubelet), bounded by `timeoutMs` in all. */
export function httpGetProbe(target: HttpTarget, timeoutMs: number): Promise<ProbeResult> {
  const url = `http://${target.host}:${target.port}${target.path}`;
  // EXERCISE(probe): GET the URL; 200-399 is a success, any other status a failure ("HTTP probe failed with statuscode: N"); an error or no answer within timeoutMs a failure too; never throw, never leave the connection open
  throw notImplemented("09-orchestration/probe", "GET the URL; 200-399 is a success, any other status a failure (\"HTTP probe failed with statuscode: N\"); an error or no answer within timeoutMs a failure too; never throw, never leave the connection open");
  // END EXERCISE
}

/** tcpSocket: a connection opens within `timeoutMs`, and is closed at once. */
export function tcpSocketProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (result: ProbeResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` }), timeoutMs);
    socket.once('connect', () => finish({ ok: true, message: '' }));
    socket.once('error', (error) => finish({ ok: false, message: `dial tcp ${host}:${port}: ${error.message}` }));
  });
}
