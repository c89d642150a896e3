#!/usr/bin/env node
/**
 * The mavgate executable: parses the command line and hands over to the commands; all
 * behaviour lives in the layers below, where tests call it directly.
 */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { DIALECTS, UnknownDialectError } from '../mavlink/index.js';
import { runDecode } from './decode.js';
import { EXIT_OK, EXIT_USAGE, InputError } from './errors.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

function dialectList(value: string): string[] {
  return value.split(',').map((d) => d.trim()).filter(Boolean);
}

export function buildProgram(): Command {
  const program = new Command('mavgate')
    .description('MAVLink ground-control gateway with data-residency enforcement')
    .version(version)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('decode')
    .description('decode a .tlog (or, with --raw, a raw MAVLink byte stream) to JSON Lines on stdout')
    .argument('<file>', 'the file to read, or - for standard input')
    .option('--raw', 'the input is a raw MAVLink byte stream, not a .tlog', false)
    .addOption(
      new Option('--dialect <names>', `comma-separated dialects (default: all of ${DIALECTS.join(', ')})`).argParser(dialectList),
    )
    .addHelpText(
      'after',
      `
One JSON object per frame on stdout; a summary (frames, per version, CRC errors,
unknown message ids, bytes skipped, torn last record) on stderr.

Examples:
  $ mavgate decode flight.tlog > flight.jsonl
  $ mavgate decode --raw capture.bin | jq 'select(.name == "HEARTBEAT")'
  $ cat flight.tlog | mavgate decode - | head`,
    )
    .action(async (file: string, opts: { raw: boolean; dialect?: string[] }) => {
      await runDecode(
        { input: file, raw: opts.raw, ...(opts.dialect ? { dialects: opts.dialect } : {}) },
        { stdout: process.stdout, stderr: process.stderr },
      );
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (err instanceof InputError || err instanceof UnknownDialectError) {
      process.stderr.write(`mavgate: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
}

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  // A reader that went away (`| head`) is not an error of ours.
  if (err.code === 'EPIPE') process.exit(EXIT_OK);
  throw err;
});

process.exitCode = await main(process.argv);
