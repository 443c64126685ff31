/**
 * The vitest reporter `workshop check` adds: one JSON line per event, written to the file
 * descriptor WORKSHOP_EVENTS_FD (a pipe to the runner), as soon as it happens. The runner shows
 * the first failure while the rest still run, and keeps each error whole: its message (vitest's
 * JSON reporter keeps only the stack, which for a timeout says "STACK_TRACE_ERROR"), and an
 * assertion's expected and received values.
 */
import fs from 'node:fs';
import type { SerializedError } from '@vitest/utils';
import type { Reporter, TestCase, TestModule } from 'vitest/node';

export interface EventError {
  name?: string;
  message: string;
  stack?: string;
  expected?: string;
  actual?: string;
  diff?: string;
  /** A CheckTimeoutError's call (lib/harness/watchdog.ts). */
  call?: { file: string; method: string; label: string };
}

export type CheckEvent =
  | { type: 'test'; file: string; titles: string[]; state: string; durationMs: number; errors: EventError[] }
  | { type: 'module'; file: string; state: string; durationMs: number; errors: EventError[] }
  | { type: 'end'; reason: string; errors: EventError[] };

/** Read events as the reporter writes them: one JSON value per line, over a stream (a line that is not JSON is skipped). */
export function onEventLines<T>(stream: { on(event: 'data', listener: (chunk: Buffer) => void): unknown }, handle: (event: T) => void): void {
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      let event: T;
      try {
        event = JSON.parse(line) as T;
      } catch {
        continue;
      }
      handle(event);
    }
  });
}

function plain(error: SerializedError & { expected?: unknown; actual?: unknown; diff?: unknown; call?: unknown }): EventError {
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const call = error.call as EventError['call'];
  return {
    name: text(error.name),
    message: String(error.message ?? ''),
    stack: text(error.stack),
    expected: text(error.expected),
    actual: text(error.actual),
    diff: text(error.diff),
    ...(call && typeof call === 'object' ? { call: { file: String(call.file), method: String(call.method), label: String(call.label) } } : {}),
  };
}

export default class CheckEventsReporter implements Reporter {
  private readonly fd = Number(process.env.WORKSHOP_EVENTS_FD);

  private send(event: CheckEvent): void {
    if (!Number.isInteger(this.fd) || this.fd < 3) return;
    try {
      fs.writeSync(this.fd, JSON.stringify(event) + '\n');
    } catch {
      // the runner went away (cancelled): nobody to tell
    }
  }

  onTestCaseResult(testCase: TestCase): void {
    const titles: string[] = [];
    for (let parent = testCase.parent; parent.type === 'suite'; parent = parent.parent) titles.unshift(parent.name);
    const result = testCase.result();
    this.send({
      type: 'test',
      file: testCase.module.moduleId,
      titles: [...titles, testCase.name],
      state: result.state,
      durationMs: testCase.diagnostic()?.duration ?? 0,
      errors: (result.errors ?? []).map(plain),
    });
  }

  onTestModuleEnd(testModule: TestModule): void {
    this.send({ type: 'module', file: testModule.moduleId, state: testModule.state(), durationMs: testModule.diagnostic().duration, errors: testModule.errors().map(plain) });
  }

  onTestRunEnd(_modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<SerializedError>, reason: string): void {
    this.send({ type: 'end', reason, errors: unhandled.map(plain) });
  }
}
