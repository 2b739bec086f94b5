/**
 * The sangam-config dialog's Outbox tab in a real browser, against the packed package in a real
 * Node-RED and the SangamCRM stand-in on 127.0.0.1: a deployed config whose call logs wait because
 * the CRM is down shows their number and the last error; Send now delivers them once the CRM is
 * back; Discard asks first, and empties the outbox only when confirmed. A config that is not
 * deployed yet, or whose outbox is off, says so instead of showing numbers. A read-only user
 * (adminAuth, sangam-config.read only) sees the numbers but no Send now or Discard.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { SangamCrmStandIn } from '../../dev/standins/sangam-crm';
import type { FlowNode } from '../support/node-red-process';
import { type PackedNodeRed, sharedNodeRed, startPackedNodeRed } from './support/packed-node-red';
import {
  type EditorGlobals,
  type EditorPage,
  addConfigFromSelect,
  dragFromPalette,
  launchChromium,
  openEditor,
  openNodeDialog,
  resetEditor,
  screenshotDir,
} from './support/editor-page';
import { RECORD } from '../support/call-record';

const TOKEN = 'outbox-editor-test-token';

interface OutboxAnswer {
  entries: number;
  waiting: number;
  lastError: { message: string; at: string } | null;
  discarded?: number;
}

/** English texts of the catalog, to compare with what the dialog shows. */
const EN = {
  notDeployed: 'Not deployed yet: deploy this server to see its outbox.',
  off: 'The outbox is off: failed call logs go to Catch nodes and are not kept.',
  empty: 'none waiting',
};

describe('the sangam-config dialog: outbox view (packed package, real browser)', function () {
  let nodeRed: PackedNodeRed;
  let browser: Browser;
  let editor: EditorPage;
  let crm: SangamCrmStandIn;
  let flowCount = 0;

  before(async function () {
    this.timeout(300_000);
    crm = await SangamCrmStandIn.start({ token: TOKEN });
    nodeRed = await sharedNodeRed();
    browser = await launchChromium();
    editor = await openEditor(browser, nodeRed);
  });

  after(async function () {
    await editor?.context.close();
    await browser?.close();
    await crm?.close();
  });

  beforeEach(async function () {
    await crm.comeBack();
    crm.reset();
    await resetEditor(editor, nodeRed);
  });

  /** A tab with a config (fresh id: its own journal), a call log (no retries) and an inject of `count` records. */
  function outboxFlow(count: number, config: Record<string, unknown> = {}): { flows: FlowNode[]; refs: string[]; ids: { tab: string; config: string; log: string; inject: string } } {
    flowCount += 1;
    const ids = { tab: `obx-tab-${flowCount}`, config: `obx-crm-${flowCount}`, log: `obx-log-${flowCount}`, inject: `obx-inject-${flowCount}` };
    const records = Array.from({ length: count }, (_, i) => ({ ...RECORD, call_ref: `obx-${flowCount}-${i}` }));
    const flows: FlowNode[] = [
      { id: ids.tab, type: 'tab', label: 'Outbox' },
      { id: ids.config, type: 'sangam-config', name: 'Stand-in CRM', domain: crm.url, ivrName: 'pbx-test', outbox: true, outboxMaxRecords: 1000, ...config },
      {
        id: ids.inject, type: 'inject', z: ids.tab, name: 'records', x: 140, y: 80, wires: [[ids.log]],
        props: [{ p: 'payload' }], payload: JSON.stringify(records), payloadType: 'json', repeat: '', once: false,
      },
      { id: ids.log, type: 'sangam-call-log', z: ids.tab, name: 'log calls', server: ids.config, retries: 0, batchWindow: 10, x: 340, y: 80, wires: [[]] },
    ];
    return { flows, ids, refs: records.map((record) => record.call_ref) };
  }

  async function deployAndReload(flows: FlowNode[], configId: string): Promise<void> {
    await nodeRed.deploy(flows, { [configId]: { token: TOKEN } });
    await editor.page.reload();
    await editor.page.waitForFunction((id) => {
      const { RED } = globalThis as unknown as EditorGlobals;
      return typeof RED?.workspaces?.active === 'function' && Boolean(RED.workspaces.active()) && RED.nodes.node(id) !== null;
    }, configId);
  }

  async function inject(id: string): Promise<void> {
    const response = await fetch(`${nodeRed.url}/inject/${id}`, { method: 'POST' });
    assert.equal(response.status, 200, `inject ${id}`);
  }

  async function outbox(configId: string, action?: 'flush'): Promise<OutboxAnswer> {
    const response = await fetch(`${nodeRed.url}/sangam-config/${configId}/outbox${action ? `/${action}` : ''}`, { method: action ? 'POST' : 'GET' });
    assert.equal(response.status, 200, `outbox of ${configId}`);
    return (await response.json()) as OutboxAnswer;
  }

  async function waitForOutbox(configId: string, check: (answer: OutboxAnswer) => boolean, what: string, timeoutMs = 20_000): Promise<OutboxAnswer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await outbox(configId);
      if (check(answer)) return answer;
      if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}; outbox: ${JSON.stringify(answer)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Shows a tab of the config dialog. Node-RED's tabs take two clicks on any tabs within 400 ms for
   * a double click (and ignore the second): wait that long if a click did not switch.
   */
  async function showTab(page: Page, label: 'Connection' | 'Advanced' | 'Outbox'): Promise<void> {
    const content = page.locator(`#sangam-config-tab-${label.toLowerCase()}`);
    for (let attempt = 0; attempt < 3; attempt++) {
      await page.locator('#node-config-sangam-config-tabs a', { hasText: label }).click();
      try {
        await content.waitFor({ state: 'visible', timeout: 500 });
        return;
      } catch {
        await page.waitForTimeout(450);
      }
    }
    await content.waitFor({ state: 'visible', timeout: 1_000 });
  }

  /** Opens the config's dialog from its call-log node (the pencil next to Server) and shows the Outbox tab. */
  async function openOutboxTab(page: Page, logId: string): Promise<void> {
    await openNodeDialog(page, logId);
    await page.locator('#node-input-btn-server-edit').click();
    await page.locator('#node-config-dialog-ok').waitFor({ state: 'visible' });
    await showTab(page, 'Outbox');
  }

  /** Waits until the dialog shows `waiting` call logs waiting (data-waiting) and returns the count's text. */
  async function shownWaiting(page: Page, waiting: number): Promise<string> {
    await page.waitForFunction(
      (waiting) => (globalThis as unknown as { document: { getElementById(id: string): { getAttribute(n: string): string | null } | null } })
        .document.getElementById('sangam-config-outbox-count')?.getAttribute('data-waiting') === String(waiting),
      waiting,
      { timeout: 20_000 },
    );
    return page.locator('#sangam-config-outbox-count').innerText();
  }

  it('a server being added says it is not deployed yet, or that its outbox is off, and offers no Send now or Discard', async function () {
    const { page } = editor;
    const log = await dragFromPalette(page, 'sangam-call-log', { x: 250, y: 100 });
    await openNodeDialog(page, log.id);
    await addConfigFromSelect(page, 'server');
    await showTab(page, 'Outbox');
    assert.equal(await page.locator('#sangam-config-outbox-status').innerText(), EN.notDeployed);
    assert.equal(await page.locator('#sangam-config-outbox-flush').isDisabled(), true);
    assert.equal(await page.locator('#sangam-config-outbox-discard').isDisabled(), true);
    await showTab(page, 'Advanced');
    // Node-RED draws its own box over the checkbox: click the label as a user does.
    await page.locator('label[for="node-config-input-outbox"]').click();
    assert.equal(await page.locator('#node-config-input-outbox').isChecked(), false);
    await showTab(page, 'Outbox');
    assert.equal(await page.locator('#sangam-config-outbox-status').innerText(), EN.off);
    assert.equal(await page.locator('#sangam-config-outbox-flush').isDisabled(), true);
    assert.deepEqual(editor.problems, [], 'the editor page reported errors');
  });

  it('a deployed server whose CRM is down shows the call logs waiting and the last error; Send now delivers them once the CRM is back, before the outbox would retry on its own', async function () {
    const { page } = editor;
    const { flows, ids, refs } = outboxFlow(3);
    await deployAndReload(flows, ids.config);
    await crm.goDown();
    await inject(ids.inject);
    // The outbox retries on its own, waiting longer after each failure (2 s, 4 s, 8 s, ...).
    // Wait until its next own attempt is at least 8 s away, so that a delivery within that time is the flush's.
    await nodeRed.waitUntil(() => nodeRed.lines.some((line) => /outbox: 3 call logs waiting, next attempt in (8|16|32) s/.test(line)), 30_000, 'the outbox to back off to 8 s');
    const backedOffAt = Date.now();

    await openOutboxTab(page, ids.log);
    const countText = await shownWaiting(page, 3);
    assert.equal(countText.trim(), '3 waiting to be sent');
    const lastError = await page.locator('#sangam-config-outbox-error').innerText();
    assert.match(lastError, /^.+: could not reach 127\.0\.0\.1:\d+: connect ECONNREFUSED/);
    assert.equal(await page.locator('#sangam-config-outbox-error-row').isVisible(), true);
    assert.equal(await page.locator('#sangam-config-outbox-flush').isEnabled(), true);
    assert.equal(await page.locator('#sangam-config-outbox-discard').isEnabled(), true);
    const tray = await page.locator('.red-ui-tray').last().boundingBox();
    if (!tray) throw new Error('no tray for the config dialog');
    await page.screenshot({ path: join(screenshotDir(), 'sangam-config-outbox.png'), clip: { x: tray.x, y: tray.y, width: tray.width, height: Math.min(tray.height, 520) } });
    assert.equal(crm.callLogs.length, 0, 'nothing reached the CRM while it was down');

    await crm.comeBack();
    await page.locator('#sangam-config-outbox-flush').click();
    await shownWaiting(page, 0);
    const deliveredAfterMs = Date.now() - backedOffAt;
    assert.ok(deliveredAfterMs < 7_000, `delivered ${deliveredAfterMs} ms after the outbox backed off to 8 s: not by Send now`);
    assert.equal(await page.locator('#sangam-config-outbox-count').innerText(), EN.empty);
    assert.deepEqual(crm.callLogs.map((stored) => stored.record.call_ref).sort(), [...refs].sort());
    await page.locator('.red-ui-notification', { hasText: '3 call logs sent, 0 still waiting' }).waitFor({ state: 'visible' });
    const after = await outbox(ids.config);
    assert.deepEqual([after.entries, after.waiting, after.lastError], [0, 0, null], 'a delivery clears the last error');
    assert.equal(await page.locator('#sangam-config-outbox-error-row').isVisible(), false, 'the dialog no longer shows the last error');
    assert.deepEqual(editor.problems, [], 'the editor page reported errors');
  });

  it('Discard asks first: Cancel keeps the call logs, confirming empties the outbox and nothing is sent later', async function () {
    const { page } = editor;
    const { flows, ids } = outboxFlow(2);
    await deployAndReload(flows, ids.config);
    await crm.goDown();
    await inject(ids.inject);
    await waitForOutbox(ids.config, (answer) => answer.waiting === 2 && answer.lastError !== null, '2 call logs waiting after a failed replay');

    await openOutboxTab(page, ids.log);
    await shownWaiting(page, 2);
    await page.locator('#sangam-config-outbox-discard').click();
    const confirm = page.locator('.red-ui-notification', { hasText: 'Discard the 2 call logs waiting in the outbox?' });
    await confirm.waitFor({ state: 'visible' });
    await page.screenshot({ path: join(screenshotDir(), 'sangam-config-outbox-discard.png') });
    await confirm.locator('button', { hasText: 'Cancel' }).click();
    await confirm.waitFor({ state: 'detached' });
    assert.equal((await outbox(ids.config)).entries, 2, 'Cancel keeps the call logs');
    assert.equal(await page.locator('#sangam-config-outbox-count').getAttribute('data-waiting'), '2');

    await page.locator('#sangam-config-outbox-discard').click();
    await confirm.waitFor({ state: 'visible' });
    await confirm.locator('button', { hasText: 'Discard them' }).click();
    await shownWaiting(page, 0);
    await page.locator('.red-ui-notification', { hasText: '2 call logs discarded' }).waitFor({ state: 'visible' });
    assert.equal((await outbox(ids.config)).entries, 0, 'the journal holds nothing');

    await crm.comeBack();
    const flushed = await outbox(ids.config, 'flush');
    assert.deepEqual([flushed.entries, flushed.waiting], [0, 0]);
    assert.equal(crm.callLogs.length, 0, 'discarded call logs never reach the CRM');
    assert.deepEqual(editor.problems, [], 'the editor page reported errors');
  });
});

describe('the sangam-config dialog: outbox view for a read-only user (adminAuth, packed package, real browser)', function () {
  const ADMIN_PASSWORD = 'outbox-admin-test-password';
  let nodeRed: PackedNodeRed;
  let browser: Browser;
  let editor: EditorPage;
  let crm: SangamCrmStandIn;
  let adminToken = '';

  before(async function () {
    this.timeout(300_000);
    crm = await SangamCrmStandIn.start({ token: TOKEN });
    const bcrypt = require(require.resolve('bcryptjs', { paths: [require.resolve('@node-red/editor-api')] })) as { hashSync(text: string, rounds: number): string };
    // An admin who may do anything; everyone else (the browser here) may only read.
    nodeRed = await startPackedNodeRed({
      adminAuth: {
        type: 'credentials',
        users: [{ username: 'admin', password: bcrypt.hashSync(ADMIN_PASSWORD, 8), permissions: '*' }],
        default: { permissions: 'read' },
      },
    });
    const token = await fetch(`${nodeRed.url}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: 'admin', password: ADMIN_PASSWORD }),
    });
    assert.equal(token.status, 200, 'admin token');
    adminToken = ((await token.json()) as { access_token: string }).access_token;
    browser = await launchChromium();
  });

  after(async function () {
    await editor?.context.close();
    await browser?.close();
    await nodeRed?.stop();
    await crm?.close();
  });

  it('shows the call logs waiting but offers no Send now or Discard, and the runtime refuses a discard without write permission', async function () {
    const ids = { tab: 'ro-tab', config: 'ro-crm', log: 'ro-log', inject: 'ro-inject' };
    const records = [{ ...RECORD, call_ref: 'ro-0' }, { ...RECORD, call_ref: 'ro-1' }];
    const flows: FlowNode[] = [
      { id: ids.tab, type: 'tab', label: 'Outbox' },
      { id: ids.config, type: 'sangam-config', name: 'Stand-in CRM', domain: crm.url, ivrName: 'pbx-test', outbox: true, outboxMaxRecords: 1000, credentials: { token: TOKEN } },
      { id: ids.inject, type: 'inject', z: ids.tab, x: 140, y: 80, wires: [[ids.log]], props: [{ p: 'payload' }], payload: JSON.stringify(records), payloadType: 'json', repeat: '', once: false },
      { id: ids.log, type: 'sangam-call-log', z: ids.tab, name: 'log calls', server: ids.config, retries: 0, batchWindow: 10, x: 340, y: 80, wires: [[]] },
    ];
    const admin = { authorization: `Bearer ${adminToken}` };
    const deployed = await fetch(`${nodeRed.url}/flows`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify({ flows }),
    });
    assert.equal(deployed.status, 200, await deployed.text());
    await crm.goDown();
    const outboxUrl = `${nodeRed.url}/sangam-config/${ids.config}/outbox`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      // The inject node exists once the deploy started; an anonymous reader may read the outbox.
      const injected = await fetch(`${nodeRed.url}/inject/${ids.inject}`, { method: 'POST', headers: admin });
      if (injected.status === 200) break;
      if (Date.now() > deadline) throw new Error(`inject answered ${injected.status}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (;;) {
      const answer = await fetch(outboxUrl);
      if (answer.status === 200 && ((await answer.json()) as OutboxAnswer).entries === 2) break;
      if (Date.now() > deadline) throw new Error('2 call logs never reached the outbox');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    editor = await openEditor(browser, nodeRed);
    const { page } = editor;
    assert.equal(await page.evaluate(() => (globalThis as unknown as { RED: { user: { hasPermission(p: string): boolean } } }).RED.user.hasPermission('sangam-config.write')), false, 'the browser is a read-only user');
    await openNodeDialog(page, ids.log);
    await page.locator('#node-input-btn-server-edit').click();
    await page.locator('#node-config-dialog-ok').waitFor({ state: 'visible' });
    for (let attempt = 0; attempt < 3 && !(await page.locator('#sangam-config-tab-outbox').isVisible()); attempt++) {
      await page.locator('#node-config-sangam-config-tabs a', { hasText: 'Outbox' }).click();
      await page.waitForTimeout(450);
    }
    await page.waitForFunction(() => (globalThis as unknown as { document: { getElementById(id: string): { getAttribute(n: string): string | null } | null } })
      .document.getElementById('sangam-config-outbox-count')?.getAttribute('data-waiting') === '2');
    assert.equal((await page.locator('#sangam-config-outbox-count').innerText()).trim(), '2 waiting to be sent');
    assert.equal(await page.locator('#sangam-config-outbox-flush').isDisabled(), true, 'Send now is off for a reader');
    assert.equal(await page.locator('#sangam-config-outbox-discard').isDisabled(), true, 'Discard is off for a reader');
    assert.equal(await page.locator('#sangam-config-outbox-readonly').isVisible(), true, 'the dialog says why');

    const refused = await fetch(`${outboxUrl}/discard`, { method: 'POST' });
    assert.equal(refused.status, 401, 'a reader may not discard');
    assert.equal(((await (await fetch(outboxUrl)).json()) as OutboxAnswer).entries, 2, 'nothing was discarded');
    assert.deepEqual(editor.problems, [], 'the editor page reported errors');
  });
});
