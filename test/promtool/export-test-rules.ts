// `npm run ops:export-test-rules`: writes test/promtool/orderflow-rules.yml, the export of the
// built-in rules that the promtool tests beside it run on (exported-rules.unit.spec.ts fails when it drifts).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILT_IN_RULES, exportPrometheusRules } from '../../src/operations/alerts/index.ts';

export const EXPORTED_RULES_FILE = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  'orderflow-rules.yml',
);

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  fs.writeFileSync(EXPORTED_RULES_FILE, exportPrometheusRules(BUILT_IN_RULES));
  console.log(`wrote ${path.relative(process.cwd(), EXPORTED_RULES_FILE)}`);
}
