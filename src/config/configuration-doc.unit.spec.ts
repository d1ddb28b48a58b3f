import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configVariables } from './config-schema.ts';
import {
  CONFIGURATION_DOC,
  REGENERATE_COMMAND,
  renderConfigurationTable,
  tableIn,
  TABLE_END,
  TABLE_START,
  withTable,
} from './configuration-doc.ts';

describe('docs/configuration.md', () => {
  const doc = fs.readFileSync(CONFIGURATION_DOC, 'utf8');

  it('has the table generated from the config schema', () => {
    const committed = tableIn(doc);
    expect(committed, `docs/configuration.md lost its ${TABLE_START} … ${TABLE_END} markers`).toBeDefined();
    expect(
      committed,
      `docs/configuration.md differs from src/config/config-schema.ts: run \`${REGENERATE_COMMAND}\``,
    ).toBe(renderConfigurationTable());
  });

  it('lists every variable of the schema, once', () => {
    const table = renderConfigurationTable();
    for (const { schema } of configVariables()) {
      expect(table.split('\n').filter((line) => line.startsWith(`| \`${schema['x-env']}\``))).toHaveLength(1);
    }
  });

  it('replaces only what lies between the markers', () => {
    const before = `# Title\n\nprose\n\n${TABLE_START}\nold\n${TABLE_END}\n\nmore prose\n`;
    expect(withTable(before, '| a |')).toBe(
      `# Title\n\nprose\n\n${TABLE_START}\n\n| a |\n\n${TABLE_END}\n\nmore prose\n`,
    );
    expect(tableIn(withTable(before, '| a |'))).toBe('| a |');
    expect(() => withTable('# no markers', '| a |')).toThrow(/markers/);
  });
});
