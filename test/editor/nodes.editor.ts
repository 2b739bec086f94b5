/**
 * The package's editor side in a real browser, against a real Node-RED that installed the packed
 * tarball: palette, dialogs filled by hand, config nodes created from a worker's dialog, deploy,
 * what the runtime stored (and that no secret is in the flows), invalid values, help, examples.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import type { FlowNode } from '../support/node-red-process';
import { packageRoot } from '../support/node-red-process';
import { type PackedNodeRed, packAndInstall, sharedNodeRed } from './support/packed-node-red';
import {
  type EditorGlobals,
  type EditorPage,
  addConfigFromSelect,
  clickDeploy,
  closeConfigDialog,
  closeNodeDialog,
  dragFromPalette,
  launchChromium,
  nodeOnWorkspace,
  openEditor,
  openNodeDialog,
  resetEditor,
  screenshotDir,
  typeInto,
} from './support/editor-page';

const WORKER_TYPES = ['sangam-call-log', 'sangam-notify', 'exotel-click2call'] as const;

/** Secrets typed into the config dialogs: each must reach the credentials store and nothing else. */
const SECRETS = {
  token: 'tok-3c1f9e6a-secret-crm-token',
  apiKey: 'key-8d2b7f41-exotel-api-key',
  apiToken: 'pw-5e0a9c33-exotel-api-token',
};

function byType(flows: FlowNode[], type: string): FlowNode[] {
  return flows.filter((node) => node.type === type);
}

function single(flows: FlowNode[], type: string): FlowNode {
  const found = byType(flows, type);
  assert.equal(found.length, 1, `one ${type} in the deployed flows, found ${found.length}`);
  return found[0]!;
}

describe('the editor in a real browser (packed package)', function () {
  let nodeRed: PackedNodeRed;
  let browser: Browser;
  let editor: EditorPage;

  before(async function () {
    this.timeout(300_000);
    const started = Date.now();
    const install = await packAndInstall();
    nodeRed = await sharedNodeRed();
    browser = await launchChromium();
    editor = await openEditor(browser, nodeRed);
    console.log(`      (npm pack ${install.packMs} ms, npm install --offline ${install.installMs} ms, ready after ${Date.now() - started} ms)`);
  });

  after(async function () {
    await editor?.context.close();
    await browser?.close();
  });

  beforeEach(async function () {
    await resetEditor(editor, nodeRed);
  });

  it('loads the five types from the installed tarball, with no error or warning', function () {
    assert.equal(nodeRed.installedManifest().name, '@sangamcrm/node-red-telephony');
    // What Node-RED logged while loading the package, up to its first "Started flows": the
    // editor test files share this Node-RED, and later deploys of other files log their own lines.
    const started = nodeRed.lines.findIndex((line) => /Started flows/.test(line));
    const loading = started >= 0 ? nodeRed.lines.slice(0, started + 1) : nodeRed.lines;
    const ours = loading.filter((line) => /sangam|exotel/i.test(line));
    const problems = ours.filter((line) => /\[(error|warn)\]/i.test(line));
    assert.deepEqual(problems, [], 'Node-RED logged problems about the package');
    assert.ok(!/Waiting for missing types/.test(nodeRed.output), nodeRed.output);
    assert.deepEqual(editor.problems, [], 'the editor page reported errors');
  });

  it('shows the SangamCRM palette category with every worker node', async function () {
    const { page } = editor;
    const category = page.locator('#red-ui-palette-container-SangamCRM');
    await category.scrollIntoViewIfNeeded();
    assert.equal(await category.locator('.red-ui-palette-header').innerText(), 'SangamCRM');
    const types = await category.locator('.red-ui-palette-node').evaluateAll((elements) =>
      elements.map((element) => (element as unknown as { getAttribute(name: string): string | null }).getAttribute('data-palette-type')),
    );
    assert.deepEqual([...types].sort(), [...WORKER_TYPES].sort());
    for (const type of WORKER_TYPES) {
      assert.ok(await category.locator(`.red-ui-palette-node[data-palette-type='${type}']`).isVisible(), `${type} visible in the palette`);
    }
    // Config nodes are not in the palette: they are created from a worker's dialog.
    assert.equal(await page.locator(".red-ui-palette-node[data-palette-type='sangam-config']").count(), 0);
    assert.equal(await page.locator(".red-ui-palette-node[data-palette-type='exotel-config']").count(), 0);
  });

  it('configures every worker node by hand (new server and account from the dialog), deploys the values and keeps the secrets out of the flows', async function () {
    const { page } = editor;

    // call log: a new SangamCRM server through the + button next to the Server select.
    const callLog = await dragFromPalette(page, 'sangam-call-log', { x: 250, y: 100 });
    await openNodeDialog(page, callLog.id);
    await addConfigFromSelect(page, 'server');
    await typeInto(page, '#node-config-input-name', 'Acme CRM');
    await typeInto(page, '#node-config-input-domain', 'acme.sangamcrm.com');
    await typeInto(page, '#node-config-input-token', SECRETS.token);
    await typeInto(page, '#node-config-input-ivrName', 'pbx-main');
    await typeInto(page, '#node-config-input-timezone', 'Asia/Kolkata');
    await page.screenshot({ path: join(screenshotDir(), 'sangam-config-dialog.png') });
    const serverId = await closeConfigDialog(page, 'server');
    assert.notEqual(serverId, '_ADD_');
    // ivrName is a typedInput: the user types into its visible text field, not the hidden original.
    await typeInto(page, '.form-row:has(#node-input-ivrName) input.red-ui-typedInput-input', 'pbx-east');
    await typeInto(page, '#node-input-batchSize', '25');
    await typeInto(page, '#node-input-batchWindow', '200');
    await typeInto(page, '#node-input-concurrency', '2');
    await typeInto(page, '#node-input-retries', '6');
    await typeInto(page, '#node-input-name', 'log calls');
    await page.screenshot({ path: join(screenshotDir(), 'call-log-dialog.png') });
    await closeNodeDialog(page);

    // notify: the server just created, picked in the select.
    const notify = await dragFromPalette(page, 'sangam-notify', { x: 250, y: 180 });
    await openNodeDialog(page, notify.id);
    await page.locator('#node-input-server').selectOption(serverId);
    await typeInto(page, '#node-input-maxAge', '45');
    await typeInto(page, '#node-input-retries', '1');
    await typeInto(page, '#node-input-name', 'pop up');
    await closeNodeDialog(page);

    // click-to-call: a new Exotel account through the + button next to the Account select.
    const clickToCall = await dragFromPalette(page, 'exotel-click2call', { x: 250, y: 260 });
    await openNodeDialog(page, clickToCall.id);
    await addConfigFromSelect(page, 'account');
    await typeInto(page, '#node-config-input-accountSid', 'acme42');
    await typeInto(page, '#node-config-input-apiKey', SECRETS.apiKey);
    await typeInto(page, '#node-config-input-apiToken', SECRETS.apiToken);
    await typeInto(page, '#node-config-input-callerId', '08047112233');
    const accountId = await closeConfigDialog(page, 'account');
    assert.notEqual(accountId, '_ADD_');
    await typeInto(page, '#node-input-timeLimit', '600');
    await page.locator('#node-input-record').check();
    await typeInto(page, '#node-input-name', 'call customer');
    await closeNodeDialog(page);

    const warning = await clickDeploy(page);
    assert.equal(warning, undefined);

    const flowsText = await nodeRed.flowsText();
    const flows = JSON.parse(flowsText) as FlowNode[];
    const server = single(flows, 'sangam-config');
    assert.equal(server.id, serverId);
    assert.equal(server.name, 'Acme CRM');
    assert.equal(server.domain, 'acme.sangamcrm.com');
    assert.equal(server.ivrName, 'pbx-main');
    assert.equal(server.timezone, 'Asia/Kolkata');
    const deployedCallLog = single(flows, 'sangam-call-log');
    assert.equal(deployedCallLog.id, callLog.id);
    assert.equal(deployedCallLog.server, serverId);
    assert.equal(deployedCallLog.ivrName, 'pbx-east');
    assert.equal(deployedCallLog.ivrNameType, 'str');
    assert.equal(String(deployedCallLog.batchSize), '25');
    assert.equal(String(deployedCallLog.batchWindow), '200');
    assert.equal(String(deployedCallLog.concurrency), '2');
    assert.equal(String(deployedCallLog.retries), '6');
    assert.equal(deployedCallLog.name, 'log calls');
    const deployedNotify = single(flows, 'sangam-notify');
    assert.equal(deployedNotify.server, serverId);
    assert.equal(String(deployedNotify.maxAge), '45');
    assert.equal(String(deployedNotify.retries), '1');
    assert.equal(deployedNotify.name, 'pop up');
    const account = single(flows, 'exotel-config');
    assert.equal(account.id, accountId);
    assert.equal(account.accountSid, 'acme42');
    assert.equal(account.callerId, '08047112233');
    const deployedClickToCall = single(flows, 'exotel-click2call');
    assert.equal(deployedClickToCall.account, accountId);
    assert.equal(String(deployedClickToCall.timeLimit), '600');
    assert.equal(deployedClickToCall.record, true);
    assert.equal(deployedClickToCall.name, 'call customer');

    // The secrets reached the runtime's credentials store...
    assert.deepEqual(await nodeRed.credentials('sangam-config', serverId), { has_token: true });
    const accountCredentials = await nodeRed.credentials('exotel-config', accountId);
    assert.equal(accountCredentials.has_apiToken, true);
    // ...and are nowhere in the flows, as served or as saved.
    const flowFile = nodeRed.flowFileText();
    for (const [name, secret] of Object.entries(SECRETS)) {
      assert.ok(!flowsText.includes(secret), `${name} in GET /flows`);
      assert.ok(!flowFile.includes(secret), `${name} in flows.json`);
    }
    for (const node of flows) assert.equal(node.credentials, undefined, `credentials on ${node.id} in GET /flows`);
  });

  it('marks bad values as invalid fields, flags the node on the workspace and warns at deploy', async function () {
    const { page } = editor;

    // A batch size of 0.
    const callLog = await dragFromPalette(page, 'sangam-call-log', { x: 250, y: 100 });
    await openNodeDialog(page, callLog.id);
    await addConfigFromSelect(page, 'server');
    // A domain with a path.
    await typeInto(page, '#node-config-input-domain', 'https://crm.example.com/api');
    await page.locator('#node-config-input-domain.input-error').waitFor();
    await typeInto(page, '#node-config-input-domain', 'crm.example.com');
    await page.locator('#node-config-input-domain:not(.input-error)').waitFor();
    await typeInto(page, '#node-config-input-domain', 'crm.example.com/v1/');
    await page.locator('#node-config-input-domain.input-error').waitFor();
    await typeInto(page, '#node-config-input-token', SECRETS.token);
    await closeConfigDialog(page, 'server');
    await typeInto(page, '#node-input-batchSize', '0');
    await page.locator('#node-input-batchSize.input-error').waitFor();
    await typeInto(page, '#node-input-batchSize', '1');
    await page.locator('#node-input-batchSize:not(.input-error)').waitFor();
    await typeInto(page, '#node-input-batchSize', '0');
    await page.locator('#node-input-batchSize.input-error').waitFor();
    await closeNodeDialog(page);

    // A phone number with letters, in the node and in the account.
    const clickToCall = await dragFromPalette(page, 'exotel-click2call', { x: 250, y: 200 });
    await openNodeDialog(page, clickToCall.id);
    await addConfigFromSelect(page, 'account');
    await typeInto(page, '#node-config-input-accountSid', 'acme42');
    await typeInto(page, '#node-config-input-callerId', '0804711CALL');
    await page.locator('#node-config-input-callerId.input-error').waitFor();
    await closeConfigDialog(page, 'account');
    await typeInto(page, '#node-input-callerId', '080-47ABC-233');
    await page.locator('#node-input-callerId.input-error').waitFor();
    await closeNodeDialog(page);

    // The invalid nodes carry the red triangle on the workspace.
    for (const id of [callLog.id, clickToCall.id]) {
      await nodeOnWorkspace(page, id).locator('.red-ui-flow-node-error:not(.hide)').waitFor({ state: 'visible' });
    }
    const validity = await page.evaluate(
      (ids) => {
        const { RED } = globalThis as unknown as EditorGlobals;
        const configs: Array<{ type: string; valid: boolean | undefined }> = [];
        RED.nodes.eachConfig((node) => {
          configs.push({ type: node.type, valid: node.valid });
        });
        return { workers: ids.map((id) => RED.nodes.node(id)?.valid), configs };
      },
      [callLog.id, clickToCall.id],
    );
    assert.deepEqual(validity.workers, [false, false]);
    assert.deepEqual(
      validity.configs.sort((a, b) => a.type.localeCompare(b.type)),
      [
        { type: 'exotel-config', valid: false },
        { type: 'sangam-config', valid: false },
      ],
    );

    // Deploy does not go through silently: it lists the invalid nodes and asks.
    const warning = await clickDeploy(page, { confirmInvalid: true });
    assert.ok(warning, 'a deploy warning');
    for (const type of ['sangam-call-log', 'exotel-click2call', 'sangam-config', 'exotel-config']) {
      assert.ok(warning.includes(`(${type})`), `the warning names the invalid ${type}:\n${warning}`);
    }
  });

  it("shows every label of each node's dialog on one line, its icon beside its text", async function () {
    const { page } = editor;
    for (const [index, type] of WORKER_TYPES.entries()) {
      const node = await dragFromPalette(page, type, { x: 250, y: 100 + index * 80 });
      await openNodeDialog(page, node.id);
      // Font Awesome's icons take their width once the font has loaded.
      await page.evaluate(async () => {
        await (globalThis as unknown as { document: { fonts: { ready: Promise<unknown> } } }).document.fonts.ready;
      });
      // A label too long for Node-RED's 100 px column wraps: its icon and text, or its words, then
      // sit on lines of their own. The tops of the label's line boxes tell one line from two.
      const wrapped = await page.locator('.red-ui-tray .form-row > label').evaluateAll((labels) =>
        labels.flatMap((label) => {
          const element = label as unknown as { offsetParent: unknown; textContent: string | null; ownerDocument: { createRange(): { selectNodeContents(node: unknown): void; getClientRects(): ArrayLike<{ top: number; height: number }> } } };
          if (element.offsetParent === null) return []; // a row hidden for the chosen input format
          const range = element.ownerDocument.createRange();
          range.selectNodeContents(element);
          const boxes = Array.from(range.getClientRects()).filter((box) => box.height > 0);
          const tops = boxes.map((box) => box.top);
          const lineHeight = Math.max(...boxes.map((box) => box.height));
          return Math.max(...tops) - Math.min(...tops) >= lineHeight / 2 ? [(element.textContent ?? '').trim()] : [];
        }),
      );
      assert.deepEqual(wrapped, [], `${type}: labels that wrap onto a second line`);
      await closeNodeDialog(page);
    }
  });

  it("shows each node's documentation in the Help sidebar when the node is selected", async function () {
    const { page } = editor;
    const root = packageRoot();
    for (const [index, type] of WORKER_TYPES.entries()) {
      // The catalog's help text: its first heading and first property name.
      const helpHtml = readFileSync(join(root, 'nodes', 'locales', 'en-US', `${type}.html`), 'utf8');
      const heading = /<h3>([^<]+)<\/h3>/.exec(helpHtml)?.[1]?.trim();
      const property = /<dt[^>]*>\s*([^<\s]+)/.exec(helpHtml)?.[1]?.trim();
      const firstSentence = /<p>([^<]{20,})/.exec(helpHtml)?.[1]?.replace(/\s+/g, ' ').trim().slice(0, 40);
      assert.ok(heading && property && firstSentence, `${type}: help has a heading, a property and a paragraph`);

      const paletteLabel = (JSON.parse(readFileSync(join(root, 'nodes', 'locales', 'en-US', `${type}.json`), 'utf8')) as Record<string, { paletteLabel: string }>)[type]!.paletteLabel;

      const node = await dragFromPalette(page, type, { x: 250, y: 100 + index * 80 });
      await page.evaluate(() => {
        const { RED } = globalThis as unknown as EditorGlobals;
        RED.sidebar.show('help');
      });
      // Selecting the node on the workspace is what brings its help into the Help sidebar.
      await nodeOnWorkspace(page, node.id).locator('rect.red-ui-flow-node').click();
      const help = page.locator('.red-ui-sidebar-help-stack .red-ui-help').first();
      await help.locator('h1', { hasText: paletteLabel }).first().waitFor();
      await help.locator('h3', { hasText: heading }).first().waitFor();
      await help.locator('dt', { hasText: property }).first().waitFor();
      const text = (await help.innerText()).replace(/\s+/g, ' ');
      assert.ok(text.includes(firstSentence), `${type}: the help panel shows "${firstSentence}":\n${text.slice(0, 500)}`);
    }
  });

  it("lists this package's flows under Import > Examples, and an imported example deploys", async function () {
    const { page } = editor;
    const root = packageRoot();
    const exampleFiles = ['01 - MQTT to call log', '04 - HTTP to click-to-call'];
    await page.evaluate(() => {
      const { RED } = globalThis as unknown as EditorGlobals;
      RED.actions.invoke('core:show-examples-import-dialog');
    });
    const dialog = page.locator('#red-ui-clipboard-dialog');
    await dialog.waitFor({ state: 'visible' });
    const packageEntry = dialog.locator('.red-ui-treeList-label', { hasText: '@sangamcrm/node-red-telephony' });
    await packageEntry.first().waitFor();
    await packageEntry.first().click();
    for (const name of exampleFiles) await dialog.locator('.red-ui-treeList-label', { hasText: name }).first().waitFor();

    await dialog.locator('.red-ui-treeList-label', { hasText: exampleFiles[0] }).first().click();
    await page.locator('#red-ui-clipboard-dialog-ok').click();
    await dialog.waitFor({ state: 'hidden' });
    // An import lands attached to the mouse: a click on the workspace places it.
    const chart = await page.locator('#red-ui-workspace-chart').boundingBox();
    if (!chart) throw new Error('no workspace');
    await page.mouse.click(chart.x + 60, chart.y + 40);
    const expected = JSON.parse(readFileSync(join(root, 'examples', `${exampleFiles[0]}.json`), 'utf8')) as FlowNode[];
    await page.waitForFunction(
      (ids) => {
        const { RED } = globalThis as unknown as EditorGlobals;
        return ids.every((id) => RED.nodes.node(id) !== null);
      },
      expected.map((node) => node.id),
    );
    // The example brings its own tab: show it, as a user would after the import.
    const exampleTab = expected.find((node) => node.type === 'tab');
    if (!exampleTab) throw new Error(`${exampleFiles[0]} has no tab`);
    await page.locator('#red-ui-workspace-tabs .red-ui-tab', { hasText: String(exampleTab.label) }).click();
    const exampleCallLog = single(expected, 'sangam-call-log');
    await nodeOnWorkspace(page, exampleCallLog.id).waitFor({ state: 'visible' });
    // For the README picture: no "Imported" toast, no not-yet-deployed dots.
    await page.addStyleTag({ content: '.red-ui-notification, .red-ui-flow-node-changed { display: none !important; }' });
    const workspace = await page.locator('#red-ui-workspace').boundingBox();
    if (!workspace) throw new Error('no workspace');
    await page.screenshot({ path: join(screenshotDir(), 'example-flow.png'), clip: { x: workspace.x, y: workspace.y, width: Math.min(workspace.width, 760), height: 340 } });

    const warning = await clickDeploy(page);
    assert.equal(warning, undefined);
    const flows = await nodeRed.flows();
    const deployedTypes = flows.map((node) => node.type).sort();
    const exampleTypes = expected.map((node) => node.type).sort();
    for (const type of exampleTypes) assert.ok(deployedTypes.includes(type), `the deployed flows hold a ${type}`);
    assert.equal(byType(flows, 'sangam-call-log').length, byType(expected, 'sangam-call-log').length);
    assert.equal(byType(flows, 'sangam-config').length, 1);
    // The runtime started them: the call-log node reports its status (idle or a config problem), no load error.
    assert.ok(!/\[error\].*(sangam|exotel).*(not|unknown) type/i.test(nodeRed.output), nodeRed.output);
  });
});
