// The `orderflow` command's entry point (bin/orderflow.mjs): the command line of src/cli/, given
// what its commands run.
import { runCli } from '../cli/program.ts';
import { createApp } from './create-app.ts';
import { openDeadLetterAdmin } from './dead-letter-admin.ts';

await runCli(process.argv, { createApp, openDeadLetterAdmin });
