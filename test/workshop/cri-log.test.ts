/** The CRI log parser in lib/, which later chapters (logs, CRI) rely on. */
import { expect, test } from 'vitest';
import { joinPartials, parseLog, parseLogLine, rfc3339Nano } from '../../lib/cri-log.ts';

test('parses records, keeps "\\r" and spaces in messages, and refuses anything else', () => {
  expect(parseLogLine('2026-11-26T14:01:02.123456789Z stdout F hello  world\r')).toEqual({
    time: '2026-11-26T14:01:02.123456789Z',
    stream: 'stdout',
    partial: false,
    message: 'hello  world\r',
  });
  expect(parseLogLine('2026-11-26T14:01:02.000000001Z stderr P ').message).toBe('');
  expect(() => parseLogLine('hello')).toThrow(/not a CRI log record: "hello"/);
  expect(() => parseLogLine('yesterday stdout F x')).toThrow(/bad time/);
});

test('joins partial records per stream, and skips a record still being written', () => {
  const text = [
    '2026-11-26T14:01:02.000000001Z stdout P abc',
    '2026-11-26T14:01:02.000000002Z stderr F err',
    '2026-11-26T14:01:02.000000003Z stdout F def',
    '2026-11-26T14:01:02.000000004Z stdout F unfinis',
  ].join('\n');
  const lines = joinPartials(parseLog(text));
  expect(lines.map((l) => [l.stream, l.text])).toEqual([
    ['stderr', 'err'],
    ['stdout', 'abcdef'],
  ]);
  expect(lines[1].time).toBe('2026-11-26T14:01:02.000000001Z');
});

test('formats nanosecond times as RFC 3339', () => {
  expect(rfc3339Nano(1_764_165_662_123_456_789n)).toBe('2025-11-26T14:01:02.123456789Z');
  expect(rfc3339Nano(5n)).toBe('1970-01-01T00:00:00.000000005Z');
});
