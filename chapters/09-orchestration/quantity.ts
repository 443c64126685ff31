/**
 * Kubernetes quantities: how a manifest writes CPU and memory ("500m", "1.5", "64Mi", "1G").
 *
 *   CPU:    cores, "m" is a thousandth: 500m = 0.5 core. The CRI asks for a CFS quota per
 *           period instead: 0.5 core = 50 000 µs of every 100 000 µs.
 *   memory: bytes, with binary (Ki Mi Gi Ti Pi Ei: powers of 1024) or decimal (k M G T P E:
 *           powers of 1000) suffixes, or an exponent (1e6).
 *
 * How real Kubernetes differs: its resource.Quantity keeps the exact decimal value and the
 * form it was written in (so that it prints back the same); here a plain number is enough.
 */

const SUFFIX: Record<string, number> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** The API server's own pattern, which its message quotes. */
export const QUANTITY_PATTERN = '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$';

/** A quantity's value (cores or bytes); undefined when it is not one. */
export function parseQuantity(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const match = /^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)|[eE]([+-]?[0-9]+))?$/.exec(value.trim());
  if (!match) return undefined;
  const [, number, suffix = '', exponent] = match;
  return Number(number) * (exponent !== undefined ? 10 ** Number(exponent) : SUFFIX[suffix]);
}

/** CPU cores as the CFS quota the CRI takes (µs per 100 ms period); kubelet rounds to whole µs, at least 1 ms. */
export const CPU_PERIOD_US = 100_000;
export function cpuQuotaOf(cores: number): number {
  return Math.max(1000, Math.round(cores * CPU_PERIOD_US));
}
