/**
 * Translations: every message key the runtime asks for exists in both catalogs (en-US, hi), the
 * catalogs have the same keys, and the editor in a Hindi browser shows the Hindi catalog.
 *
 * The runtime's RED._ resolves keys in the catalog of the node set that calls it
 * (nodes/locales/<lang>/<node file>.json), so keys are checked per node file.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { packageRoot } from '../support/node-red-process';
import { NODE_TYPES, type PackedNodeRed, sharedNodeRed } from './support/packed-node-red';
import { type EditorPage, dragFromPalette, launchChromium, openEditor, openNodeDialog, resetEditor } from './support/editor-page';

const LANGUAGES = ['en-US', 'hi'] as const;
const root = packageRoot();

type Catalog = { [key: string]: string | Catalog };

function catalog(language: string, type: string): Catalog {
  return JSON.parse(readFileSync(join(root, 'nodes', 'locales', language, `${type}.json`), 'utf8')) as Catalog;
}

/** Every dotted key that holds a string. */
function leafKeys(tree: Catalog, prefix = ''): string[] {
  return Object.entries(tree).flatMap(([key, value]) => (typeof value === 'string' ? [`${prefix}${key}`] : leafKeys(value, `${prefix}${key}.`)));
}

function lookup(tree: Catalog, key: string): string | undefined {
  let node: string | Catalog | undefined = tree;
  for (const part of key.split('.')) {
    if (node === undefined || typeof node === 'string') return undefined;
    node = node[part];
  }
  return typeof node === 'string' ? node : undefined;
}

/** The activity kinds of the StatusReporter (`{ kind: 'idle' }` ... in src/red/status.ts). */
function statusKinds(): string[] {
  const source = readFileSync(join(root, 'src', 'red', 'status.ts'), 'utf8');
  const union = /export type NodeActivity =([\s\S]*?);\n/.exec(source)?.[1];
  if (!union) throw new Error('NodeActivity not found in src/red/status.ts');
  return [...union.matchAll(/kind: '(\w+)'/g)].map((match) => match[1]!);
}

/**
 * The activity kinds a node file can show: those written as `kind: '<kind>'` in it or in the
 * modules it imports directly (the call-log dispatcher reports its own activities), limited to
 * the StatusReporter's kinds (other modules have event kinds of their own).
 */
function reportedKinds(type: string, source: string): string[] {
  const known = statusKinds();
  const sources = [source];
  for (const match of source.matchAll(/from '\.\/([^']+)'/g)) {
    // red/status defines every kind: it says nothing about which ones this node shows.
    if (match[1] === 'red/status') continue;
    const imported = join(root, 'src', `${match[1]}.ts`);
    if (existsSync(imported)) sources.push(readFileSync(imported, 'utf8'));
  }
  const used = new Set(sources.flatMap((text) => [...text.matchAll(/kind: '(\w+)'/g)].map((kind) => kind[1]!)));
  const kinds = known.filter((kind) => used.has(kind));
  if (kinds.length === 0) throw new Error(`src/${type}.ts creates a StatusReporter but shows no activity kind this test can find`);
  return kinds;
}

/**
 * The keys a node file passes to RED._: literal ones, `<prefix>.status.<kind>` for each
 * StatusReporter it creates, and the one known template (Exotel HTTP statuses). Any other template
 * fails the test: a new dynamic key must be taught here, or it would go unchecked.
 */
function runtimeKeys(type: string): string[] {
  const source = readFileSync(join(root, 'src', `${type}.ts`), 'utf8');
  const keys = [...source.matchAll(/RED\._\(\s*'([^']+)'/g)].map((match) => match[1]!);
  for (const match of source.matchAll(/new StatusReporter\([^,]+,\s*RED\._,\s*'([^']+)'/g)) {
    keys.push(...reportedKinds(type, source).map((kind) => `${match[1]}.status.${kind}`));
  }
  for (const match of source.matchAll(/RED\._\(\s*`([^`]*)`/g)) {
    const template = match[1]!;
    if (template === 'exotel-click2call.status.http${statusCode}') {
      const codes = /TRANSLATED_STATUSES = new Set\(\[([\d,\s]+)\]\)/.exec(source)?.[1];
      if (!codes) throw new Error('TRANSLATED_STATUSES not found in src/exotel-click2call.ts');
      keys.push(...codes.split(',').map((code) => `exotel-click2call.status.http${code.trim()}`));
    } else {
      throw new Error(`src/${type}.ts: RED._ with a template key this test cannot expand: ${template}`);
    }
  }
  if (/RED\._\(\s*[^'`\s]/.test(source)) throw new Error(`src/${type}.ts: RED._ with a computed key this test cannot check`);
  return [...new Set(keys)];
}

describe('translations', function () {
  it('every key the runtime uses is in the en-US and hi catalogs of its node', function () {
    const missing: string[] = [];
    let checked = 0;
    for (const type of NODE_TYPES) {
      const keys = runtimeKeys(type);
      checked += keys.length;
      for (const language of LANGUAGES) {
        const messages = catalog(language, type);
        for (const key of keys) {
          const text = lookup(messages, key);
          if (text === undefined || text.trim() === '') missing.push(`${language}/${type}.json: ${key}`);
        }
      }
    }
    assert.deepEqual(missing, []);
    // The scan found the keys it should (a broken regex would check nothing).
    assert.ok(checked >= 20, `only ${checked} runtime keys found`);
  });

  it('the en-US and hi catalogs have the same keys and the same help pages', function () {
    for (const type of NODE_TYPES) {
      const english = leafKeys(catalog('en-US', type)).sort();
      const hindi = leafKeys(catalog('hi', type)).sort();
      assert.deepEqual(
        { onlyInEnglish: english.filter((key) => !hindi.includes(key)), onlyInHindi: hindi.filter((key) => !english.includes(key)) },
        { onlyInEnglish: [], onlyInHindi: [] },
        `${type}.json`,
      );
      for (const language of LANGUAGES) assert.ok(existsSync(join(root, 'nodes', 'locales', language, `${type}.html`)), `${language}/${type}.html`);
    }
    assert.deepEqual(readdirSync(join(root, 'nodes', 'locales')).sort(), [...LANGUAGES].sort());
  });

  describe('the editor in a Hindi browser', function () {
    let nodeRed: PackedNodeRed;
    let browser: Browser;
    let editor: EditorPage;

    before(async function () {
      this.timeout(300_000);
      nodeRed = await sharedNodeRed();
      browser = await launchChromium();
      editor = await openEditor(browser, nodeRed, 'hi');
      await resetEditor(editor, nodeRed);
    });

    after(async function () {
      await editor?.context.close();
      await browser?.close();
    });

    it('shows the Hindi palette label and dialog labels', async function () {
      const { page } = editor;
      const hindi = catalog('hi', 'sangam-call-log');
      const english = catalog('en-US', 'sangam-call-log');
      const paletteLabel = lookup(hindi, 'sangam-call-log.paletteLabel')!;
      assert.notEqual(paletteLabel, lookup(english, 'sangam-call-log.paletteLabel'), 'the Hindi palette label differs from the English one');

      // Node-RED splits palette labels at spaces and hyphens into separate text lines: compare without spacing.
      const shown = await page.locator(".red-ui-palette-node[data-palette-type='sangam-call-log'] .red-ui-palette-label").innerText();
      assert.equal(shown.replace(/\s+/g, ''), paletteLabel.replace(/\s+/g, ''));

      const node = await dragFromPalette(page, 'sangam-call-log', { x: 250, y: 120 });
      await openNodeDialog(page, node.id);
      for (const key of ['label.batchSize', 'label.server', 'label.retries']) {
        const text = lookup(hindi, `sangam-call-log.${key}`)!;
        assert.notEqual(text, lookup(english, `sangam-call-log.${key}`), `${key} is translated`);
        await page.locator('.red-ui-tray label span', { hasText: text }).first().waitFor({ state: 'visible' });
      }
      // A placeholder too (data-i18n="[placeholder]...").
      const placeholder = await page.locator('.form-row:has(#node-input-ivrName) input.red-ui-typedInput-input').getAttribute('placeholder');
      assert.equal(placeholder, lookup(hindi, 'sangam-call-log.placeholder.ivrName'));
      assert.deepEqual(editor.problems, []);
    });
  });
});
