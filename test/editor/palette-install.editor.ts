/**
 * Installing the packed tarball from the palette manager, with the editor open, into a Node-RED
 * that does not have the package yet: the palette manager uploads the .tgz (POST /nodes), Node-RED
 * runs npm install of it in the user dir and sends the new node sets to the open editor, which
 * loads each set's `src` scripts (resources/validators.js) and only then its inline scripts.
 *
 * A `src` script that does not load (missing from the tarball, wrong path) has no onerror there:
 * the set's inline scripts are never run and its types never register. So these tests wait for the
 * types and run their validators, which exist only when validators.js loaded first.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { NodeRedProcess } from '../support/node-red-process';
import { NODE_TYPES, packAndInstall } from './support/packed-node-red';
import { type EditorGlobals, addConfigFromSelect, dragFromPalette, launchChromium, openNodeDialog, screenshotDir, typeInto } from './support/editor-page';

interface ValidatorGlobals {
  RED: { nodes: { getType(type: string): { defaults: Record<string, { validate?: (this: object, value: unknown) => unknown }> } | null } };
  SangamTelephonyValidators?: unknown;
}

describe('installing the packed package from the palette manager, with the editor open', function () {
  let nodeRed: NodeRedProcess;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let tarball: string;
  const problems: string[] = [];

  before(async function () {
    this.timeout(300_000);
    ({ tarball } = await packAndInstall());
    nodeRed = await NodeRedProcess.start({
      userDir: mkdtempSync(join(tmpdir(), 'nr-palette-install-')),
      removeUserDir: true,
      install: 'none',
      // got and its dependencies were cached by the packed install: npm need not go online.
      env: { npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' },
      settings: {
        externalModules: { autoInstall: false, palette: { allowInstall: true, allowUpload: true } },
        // No catalogue: the editor must not reach out (and the browser blocks everything but 127.0.0.1).
        editorTheme: { tours: false, projects: { enabled: false }, palette: { catalogues: [] } },
      },
    });
    await nodeRed.waitUntil(() => nodeRed.lines.some((line) => /Started flows/.test(line)), 60_000, 'the flows to start');
    browser = await launchChromium();
    context = await browser.newContext({ locale: 'en-US', viewport: { width: 1400, height: 950 } });
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.protocol === 'data:' || url.hostname === '127.0.0.1') return route.continue();
      return route.abort('blockedbyclient');
    });
    page = await context.newPage();
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });
    await page.goto(`${nodeRed.url}/`);
    await page.locator(".red-ui-palette-node[data-palette-type='inject']").waitFor({ state: 'attached', timeout: 60_000 });
    await page.waitForFunction(() => {
      const { RED } = globalThis as unknown as EditorGlobals;
      return typeof RED?.workspaces?.active === 'function' && Boolean(RED.workspaces.active());
    });
  });

  after(async function () {
    await context?.close();
    await browser?.close();
    await nodeRed?.stop();
  });

  it('uploads the tarball, and the open editor registers the five types with the shared validators loaded first', async function () {
    this.timeout(240_000);
    const before = await page.evaluate((types) => types.filter((type) => Boolean((globalThis as unknown as ValidatorGlobals).RED.nodes.getType(type))), [...NODE_TYPES]);
    assert.deepEqual(before, [], 'the package is not installed before the upload');

    await page.evaluate(() => (globalThis as unknown as EditorGlobals).RED.actions.invoke('core:manage-palette', { view: 'install' }));
    await page.locator('#red-ui-palette-editor-upload-form input[type="file"]').setInputFiles(tarball);
    await page.locator('.red-ui-palette-editor-upload-buttons button.primary').click();
    // The types appear in the open editor once npm install finished and the sets loaded.
    await page.locator(".red-ui-palette-node[data-palette-type='sangam-call-log']").waitFor({ state: 'attached', timeout: 180_000 });
    try {
      await page.waitForFunction(
        (types) => types.every((type) => Boolean((globalThis as unknown as ValidatorGlobals).RED.nodes.getType(type))),
        [...NODE_TYPES],
        { timeout: 30_000 },
      );
    } catch {
      // What a set whose src script did not load looks like: its inline scripts never ran.
      const missing = await page.evaluate((types) => types.filter((type) => !(globalThis as unknown as ValidatorGlobals).RED.nodes.getType(type)), [...NODE_TYPES]);
      throw new Error(`types never registered after the install: ${missing.join(', ')}; page problems: ${problems.join(' | ') || 'none'}`);
    }
    assert.ok(nodeRed.lines.some((line) => /Added node types/.test(line) || /sangam-config/.test(line)), nodeRed.output);

    const verdicts = await page.evaluate(() => {
      const { RED, SangamTelephonyValidators } = globalThis as unknown as ValidatorGlobals;
      const domain = RED.nodes.getType('sangam-config')!.defaults.domain!.validate!;
      const subdomain = RED.nodes.getType('exotel-config')!.defaults.subdomain!.validate!;
      return {
        shared: typeof SangamTelephonyValidators,
        mappedLoopback: domain.call({ allowInsecure: false }, 'http://[::ffff:127.0.0.1]:8080'),
        plainHttp: domain.call({ allowInsecure: false }, 'http://crm.example.com'),
        exotelMappedLoopback: subdomain.call({ allowInsecure: false }, 'http://[::ffff:127.0.0.1]:8081'),
      };
    });
    assert.deepEqual(verdicts, { shared: 'object', mappedLoopback: true, plainHttp: false, exotelMappedLoopback: true });
    const script = await fetch(`${nodeRed.url}/resources/@sangamcrm/node-red-telephony/validators.js`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type') ?? '', /javascript/);
    assert.deepEqual(problems, [], 'the editor page reported errors');
  });

  it('the freshly installed config dialog marks a plain-http domain invalid and an IPv4-mapped loopback one valid', async function () {
    // Close the palette manager (the user settings tray) with its Close button, as a user does.
    const close = page.locator('#node-dialog-ok');
    if (await close.isVisible()) {
      await close.click();
      await close.waitFor({ state: 'detached' });
    }
    const log = await dragFromPalette(page, 'sangam-call-log', { x: 250, y: 100 });
    await openNodeDialog(page, log.id);
    await addConfigFromSelect(page, 'server');
    const domain = page.locator('#node-config-input-domain');
    await typeInto(page, '#node-config-input-domain', 'http://crm.example.com');
    assert.equal(await domain.evaluate((element) => (element as unknown as { classList: { contains(c: string): boolean } }).classList.contains('input-error')), true, 'plain http to a remote host is marked');
    await typeInto(page, '#node-config-input-domain', 'http://[::ffff:127.0.0.1]:8080');
    assert.equal(await domain.evaluate((element) => (element as unknown as { classList: { contains(c: string): boolean } }).classList.contains('input-error')), false, 'IPv4-mapped loopback is not marked');
    await page.screenshot({ path: join(screenshotDir(), 'palette-installed-config-dialog.png') });
    assert.deepEqual(problems, [], 'the editor page reported errors');
  });
});
