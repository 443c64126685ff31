/**
 * What the two stream protocols (WebSocket channels, streaming.ts; SPDY streams,
 * spdy-streaming.ts) say alike: the end of a process as a Kubernetes Status, and a terminal's
 * size as kubectl sends it.
 */

/** Kubernetes' Status for the end of an exec: kubectl reads the exit code from its causes. */
export function exitStatus(exitCode: number): object {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** A Status for a stream that could not run at all (the container stopped, the command is missing). */
export function failureStatus(message: string): object {
  return { metadata: {}, status: 'Failure', message };
}

export type TerminalSize = { rows: number; cols: number };

/** `{"Width":W,"Height":H}` (kubectl's resize message) as a size, or undefined if it is not one. */
export function terminalSizeOf(json: string): TerminalSize | undefined {
  try {
    const { Width, Height } = JSON.parse(json) as { Width: number; Height: number };
    return Number.isInteger(Width) && Number.isInteger(Height) && Width > 0 && Height > 0 && Width < 65536 && Height < 65536 ? { rows: Height, cols: Width } : undefined;
  } catch {
    return undefined;
  }
}

/** What a session's client asked for (the CRI Exec/Attach request's flags): which streams it opens. */
export interface SessionStreams {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}
