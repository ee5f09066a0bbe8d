/**
 * Writes `config.schema.json` (repo root) from the zod schema in `lib/config.ts`, so editors can
 * validate and complete a Restorable config file. Run with `npm run schema`; commit the output.
 */
// @ts-nocheck

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configJsonSchema } from './config';

const target = join(__dirname, '..', 'config.schema.json');
writeFileSync(target, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target}`);
