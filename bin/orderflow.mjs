#!/usr/bin/env node
// The `orderflow` command. Orderflow is shipped as TypeScript source and run through tsx's loader,
// so that `npm ci && npm start` needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/app/main.ts');
