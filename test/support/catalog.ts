import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NodeAPI } from 'node-red';

/**
 * A node module for helper.load that gives RED._ the package's en-US catalogs of sangam-config and
 * sangam-call-log, so log lines and statuses read as a user sees them.
 */
export const withCatalog = (RED: NodeAPI): void => {
  const catalogs: Record<string, unknown> = {};
  for (const type of ['sangam-config', 'sangam-call-log']) {
    Object.assign(catalogs, JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'nodes', 'locales', 'en-US', `${type}.json`), 'utf8')) as object);
  }
  (RED as unknown as { _: unknown })._ = (key: string, params: Record<string, unknown> = {}): string => {
    const found = key.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], catalogs);
    return typeof found === 'string' ? found.replace(/__(\w+)__/g, (_match, name: string) => String(params[name] ?? '')) : key;
  };
};
