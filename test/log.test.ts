/**
 * No log floods: an event that can come with every frame is written once, then counted;
 * a flood that goes on gets one line per window. Checked on the summariser (fake timers)
 * and end to end: a vehicle whose heartbeat changes mode on every frame.
 */
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { summarisingLogger, SUMMARY_WINDOW_MS, UNKEYED_LINES_PER_WINDOW } from '../src/cli/log.js';
import { DEFAULT_RUN_CONFIG, type RunConfig } from '../src/cli/run-config.js';
import { startGateway } from '../src/cli/run.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import type { UdpLink } from '../src/links/udp-link.js';
import { frame } from './helpers/frames.js';
import { until } from './helpers/wait.js';

afterEach(() => {
  vi.useRealTimers();
});

function capture() {
  const lines: string[] = [];
  return { lines, out: (level: string, message: string) => void lines.push(`${level} ${message}`) };
}

describe('the log summariser', () => {
  it('writes the first of a keyed event, then a count of the others at the end of the window', () => {
    vi.useFakeTimers();
    const { lines, out } = capture();
    const log = summarisingLogger(out);
    for (let i = 0; i < 500; i++) log('info', `1/1: MODE ${i}, armed`, '1/1 mode');
    expect(lines).toEqual(['info 1/1: MODE 0, armed']);
    vi.advanceTimersByTime(SUMMARY_WINDOW_MS);
    expect(lines).toEqual(['info 1/1: MODE 0, armed', 'info 1/1: MODE 499, armed (and 499 more like it in the last 10 s)']);
  });

  it('makes a line given as a function only when it is written: a counted event costs no string', () => {
    vi.useFakeTimers();
    const { lines, out } = capture();
    const log = summarisingLogger(out);
    let made = 0;
    for (let i = 0; i < 100; i++) log('info', () => `mode ${++made}`, 0x101);
    expect(made).toBe(1);
    vi.advanceTimersByTime(SUMMARY_WINDOW_MS);
    expect(made).toBe(2);
    expect(lines).toEqual(['info mode 1', 'info mode 2 (and 99 more like it in the last 10 s)']);
  });

  it('gives a flood that goes on one line per window, and writes the event again once it stopped', () => {
    vi.useFakeTimers();
    const { lines, out } = capture();
    const log = summarisingLogger(out);
    for (let window = 0; window < 3; window++) {
      for (let i = 0; i < 100; i++) log('info', `mode ${window}.${i}`, 'mode');
      vi.advanceTimersByTime(SUMMARY_WINDOW_MS);
    }
    expect(lines).toEqual([
      'info mode 0.0',
      'info mode 0.99 (and 99 more like it in the last 10 s)',
      'info mode 1.99 (and 100 more like it in the last 10 s)',
      'info mode 2.99 (and 100 more like it in the last 10 s)',
    ]);
    // A quiet window: nothing to tell, and the next occurrence is written as it comes.
    vi.advanceTimersByTime(SUMMARY_WINDOW_MS);
    expect(lines).toHaveLength(4);
    log('info', 'mode again', 'mode');
    expect(lines.at(-1)).toBe('info mode again');
  });

  it('keeps kinds apart, and writes lines without a key until the same one has come 20 times in a window', () => {
    vi.useFakeTimers();
    const { lines, out } = capture();
    const log = summarisingLogger(out);
    log('warn', 'link udp:127.0.0.1:14550: down');
    log('info', 'link udp:127.0.0.1:14550: up');
    log('warn', 'link udp:127.0.0.1:14550: down');
    log('info', 'a/1 mode', 'a');
    log('info', 'b/1 mode', 'b');
    expect(lines).toHaveLength(5);
    for (let i = 0; i < 100; i++) log('error', 'internal error (relay continues): boom');
    expect(lines.filter((l) => l.includes('boom'))).toHaveLength(UNKEYED_LINES_PER_WINDOW);
    log.flush();
    expect(lines.at(-1)).toBe(`error internal error (relay continues): boom (and ${100 - UNKEYED_LINES_PER_WINDOW} more like it in the last 10 s)`);
  });
});

describe('mavgate run with a vehicle whose mode changes on every heartbeat', () => {
  it('logs the mode once and then a count, not a line per heartbeat', async () => {
    const { lines, out } = capture();
    const config: RunConfig = { ...DEFAULT_RUN_CONFIG, links: [parseEndpoint('udp-listen:127.0.0.1:0')], statusIntervalMs: 0, server: { ...DEFAULT_RUN_CONFIG.server, listen: null, gcs: [] }, recording: null };
    const running = await startGateway(config, out);
    const vehicle = createSocket('udp4');
    await new Promise<void>((r) => vehicle.bind(0, '127.0.0.1', r));
    try {
      const port = (running.gateway.links[0]!.link as UdpLink).localPort;
      const heartbeats = 300;
      for (let i = 0; i < heartbeats; i++) {
        // ArduCopter, armed, with a flight mode number that changes every time.
        vehicle.send(frame({ name: 'HEARTBEAT', fields: { type: 2, autopilot: 3, base_mode: 129, custom_mode: 1000 + i, system_status: 4, mavlink_version: 3 } }, { seq: i & 0xff }), port, '127.0.0.1');
      }
      await until(() => (running.gateway.state.get(1, 1)?.message('HEARTBEAT')?.count ?? 0) === heartbeats, 'every heartbeat');
      const modeLines = lines.filter((l) => l.includes('system 1/1'));
      expect(modeLines).toHaveLength(2);
      expect(modeLines[0]).toMatch(/^info system 1\/1: heartbeat, /);
      expect(modeLines[1]).toBe('info system 1/1: custom_mode 1001, armed');
    } finally {
      vehicle.close();
      await running.stop();
    }
    expect(lines.filter((l) => l.includes('system 1/1')).at(-1)).toBe('info system 1/1: custom_mode 1299, armed (and 298 more like it in the last 10 s)');
  });
});
