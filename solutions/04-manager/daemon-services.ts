/**
 * More servers in conmand, beside its own API: a later chapter registers one before conmand
 * starts (chapter 08's CRI endpoint), with the command-line options it adds. conmand starts
 * each once the Manager is open and its API listens, and closes each on SIGTERM.
 */
import type { Manager } from './manager.ts';

export interface DaemonContext {
  root: string;
  runRoot: string;
  /** The values of the options the service declared (parseArgs'). */
  options: Record<string, string | boolean | undefined>;
}

export interface DaemonService {
  /** For messages: "CRI". */
  name: string;
  /** parseArgs options this service adds to conmand's, e.g. { 'cri-socket': { type: 'string' } }. */
  options: Record<string, { type: 'string' | 'boolean' }>;
  /** Its part of conmand's usage line, e.g. "[--cri-socket PATH]". */
  usage: string;
  /** Start serving; resolves with where (for conmand's "listening" line) and how to stop. */
  start(manager: Manager, context: DaemonContext): Promise<{ where: string; close(): Promise<void> }>;
}

const services: DaemonService[] = [];

export function registerDaemonService(service: DaemonService): void {
  services.push(service);
}

export function registeredDaemonServices(): readonly DaemonService[] {
  return services;
}
