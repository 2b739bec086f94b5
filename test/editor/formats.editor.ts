/**
 * The input formats of sangam-call-log and sangam-notify in the real editor (packed package):
 * which fields and which help each format shows, the Twilio auth token kept as a credential only,
 * the PBX time zone's list of zones (and that the runtime accepts every zone offered), and the
 * palette filter finding "call pop-up".
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { FlowNode } from '../support/node-red-process';
import { packageRoot } from '../support/node-red-process';
import { formatCrmDate } from '../../src/sangam/dates';
import { type PackedNodeRed, sharedNodeRed } from './support/packed-node-red';
import {
  type EditorGlobals,
  type EditorPage,
  addConfigFromSelect,
  clickDeploy,
  closeConfigDialog,
  closeNodeDialog,
  dragFromPalette,
  launchChromium,
  openEditor,
  openNodeDialog,
  resetEditor,
  screenshotDir,
  typeInto,
} from './support/editor-page';

const TWILIO_TOKEN = 'twl-7f3e91c2-secret-auth-token';

/** Per format: the rows shown (by field id) and the tip shown. */
const CALL_LOG_FORMATS: Record<string, string[]> = {
  record: [],
  exotel: [],
  twilio: ['twilioAuthToken', 'webhookUrl'],
  asterisk: ['pbxTimezone'],
  freeswitch: ['pbxTimezone'],
};
const NOTIFY_FORMATS: Record<string, string[]> = {
  event: [],
  exotel: [],
  twilio: ['twilioAuthToken', 'webhookUrl'],
  asterisk: ['pbxTimezone'],
};
const FORMAT_FIELDS = ['twilioAuthToken', 'webhookUrl', 'pbxTimezone'];

function catalog(type: string, lang = 'en-US'): Record<string, unknown> {
  const all = JSON.parse(readFileSync(join(packageRoot(), 'nodes', 'locales', lang, `${type}.json`), 'utf8')) as Record<string, Record<string, unknown>>;
  return all[type]!;
}

/** Visible text of an element, tags gone (a tip's catalog HTML as the dialog shows it). */
function plain(html: string): string {
  return html.replace(/<[^>]+>/g, '').replace(/\s+/g, ' ').trim();
}

/** Which format fields and which tips the open dialog shows now. */
async function shown(page: Page, type: string): Promise<{ fields: string[]; tips: string[] }> {
  return page.evaluate(
    ({ type, fields }) => {
      const doc = (globalThis as unknown as { document: { querySelector(s: string): { offsetParent: unknown } | null; querySelectorAll(s: string): ArrayLike<{ offsetParent: unknown; id: string; textContent: string | null }> } }).document;
      const visibleFields = fields.filter((field) => {
        const input = doc.querySelector(`#node-input-${field}`);
        return Boolean(input && input.offsetParent !== null);
      });
      const tips = Array.from(doc.querySelectorAll(`.${type}-format-tip`)).filter((tip) => tip.offsetParent !== null).map((tip) => `${tip.id}: ${(tip.textContent ?? '').replace(/\s+/g, ' ').trim()}`);
      return { fields: visibleFields, tips };
    },
    { type, fields: FORMAT_FIELDS },
  );
}

describe('input formats in the editor (packed package)', function () {
  let nodeRed: PackedNodeRed;
  let browser: Browser;
  let editor: EditorPage;

  before(async function () {
    this.timeout(300_000);
    nodeRed = await sharedNodeRed();
    browser = await launchChromium();
    editor = await openEditor(browser, nodeRed);
  });

  after(async function () {
    await editor?.context.close();
    await browser?.close();
  });

  beforeEach(async function () {
    await resetEditor(editor, nodeRed);
  });

  for (const [type, formats, fallback] of [
    ['sangam-call-log', CALL_LOG_FORMATS, 'record'],
    ['sangam-notify', NOTIFY_FORMATS, 'event'],
  ] as const) {
    it(`${type}: the format selector offers ${Object.keys(formats).join(', ')} (default ${fallback}), each showing its own help and only its fields`, async function () {
      const { page } = editor;
      const node = await dragFromPalette(page, type, { x: 250, y: 120 });
      assert.equal(node.inputFormat, fallback);
      await openNodeDialog(page, node.id);
      await addConfigFromSelect(page, 'server');
      await typeInto(page, '#node-config-input-name', 'Acme CRM');
      await typeInto(page, '#node-config-input-domain', 'acme.sangamcrm.com');
      await closeConfigDialog(page, 'server');
      const offered = await page.locator('#node-input-inputFormat option').evaluateAll((options) => options.map((option) => (option as unknown as { value: string }).value));
      assert.deepEqual(offered, Object.keys(formats));
      const tipsCatalog = catalog(type).tip as Record<string, string>;
      for (const [format, fields] of Object.entries(formats)) {
        await page.locator('#node-input-inputFormat').selectOption(format);
        const now = await shown(page, type);
        assert.deepEqual(now.fields, fields, `${format}: fields shown`);
        assert.equal(now.tips.length, 1, `${format}: one tip shown, got ${JSON.stringify(now.tips)}`);
        const expected = plain(tipsCatalog[format]!);
        assert.ok(expected.length > 40, `${format}: the catalog has a real tip`);
        assert.equal(now.tips[0], `${type}-tip-${format}: ${expected}`);
        if (format === 'asterisk') {
          await page.screenshot({ path: join(screenshotDir(), `${type}-formats.png`) });
        }
      }
      if (type === 'sangam-notify') {
        // The event code is there for every format, with the guide's sample as default.
        assert.equal(await page.locator('#node-input-eventCode').inputValue(), 'TC');
        await typeInto(page, '#node-input-eventCode', 'two words');
        await page.locator('#node-input-eventCode.input-error').waitFor();
        await typeInto(page, '#node-input-eventCode', 'RING');
        await page.locator('#node-input-eventCode:not(.input-error)').waitFor();
      }
      await closeNodeDialog(page);
    });
  }

  it('validates the Twilio webhook URL only while the format is twilio', async function () {
    const { page } = editor;
    const node = await dragFromPalette(page, 'sangam-call-log', { x: 250, y: 120 });
    await openNodeDialog(page, node.id);
    await page.locator('#node-input-inputFormat').selectOption('twilio');
    await typeInto(page, '#node-input-webhookUrl', 'example.com/twilio/status');
    await page.locator('#node-input-webhookUrl.input-error').waitFor();
    await typeInto(page, '#node-input-webhookUrl', 'ftp://example.com/twilio/status');
    await page.locator('#node-input-webhookUrl.input-error').waitFor();
    await typeInto(page, '#node-input-webhookUrl', 'https://example.com/twilio/status');
    await page.locator('#node-input-webhookUrl:not(.input-error)').waitFor();
    await typeInto(page, '#node-input-webhookUrl', 'not a url');
    await page.locator('#node-input-webhookUrl.input-error').waitFor();
    // Another format: the leftover URL is not what the node uses, so it is no error.
    await page.locator('#node-input-inputFormat').selectOption('record');
    await page.locator('#node-input-webhookUrl:not(.input-error)').waitFor({ state: 'attached' });
    await closeNodeDialog(page);
    const valid = await page.evaluate((id) => (globalThis as unknown as EditorGlobals).RED.nodes.node(id)?.validationErrors ?? [], node.id);
    assert.deepEqual(valid.filter((property) => property !== 'server'), []);
  });

  it('sends the Twilio auth token only as a credential: it is in the deploy request under credentials, never in GET /flows or flows.json', async function () {
    const { page } = editor;
    const callLog = await dragFromPalette(page, 'sangam-call-log', { x: 250, y: 100 });
    await openNodeDialog(page, callLog.id);
    await addConfigFromSelect(page, 'server');
    await typeInto(page, '#node-config-input-domain', 'http://127.0.0.1:9');
    await typeInto(page, '#node-config-input-token', 'not-a-real-token');
  await typeInto(page, '#node-config-input-token', 'not-a-real-token');
    const serverId = await closeConfigDialog(page, 'server');
    await page.locator('#node-input-inputFormat').selectOption('twilio');
    await typeInto(page, '#node-input-twilioAuthToken', TWILIO_TOKEN);
    await typeInto(page, '#node-input-webhookUrl', 'https://pbx.example.com/twilio/status');
    await closeNodeDialog(page);

    const notify = await dragFromPalette(page, 'sangam-notify', { x: 250, y: 200 });
    await openNodeDialog(page, notify.id);
    await page.locator('#node-input-server').selectOption(serverId);
    await page.locator('#node-input-inputFormat').selectOption('twilio');
    await typeInto(page, '#node-input-twilioAuthToken', TWILIO_TOKEN);
    await typeInto(page, '#node-input-webhookUrl', 'https://pbx.example.com/twilio/voice');
    await closeNodeDialog(page);

    const deployBody = page.waitForRequest((request) => request.method() === 'POST' && new URL(request.url()).pathname === '/flows');
    await clickDeploy(page);
    const sent = JSON.parse((await deployBody).postData() ?? '{}') as { flows: Array<FlowNode & { credentials?: Record<string, unknown> }> };
    for (const id of [callLog.id, notify.id]) {
      const node = sent.flows.find((candidate) => candidate.id === id);
      assert.ok(node, `${id} in the deploy request`);
      assert.deepEqual(node.credentials, { twilioAuthToken: TWILIO_TOKEN }, `the token travels under credentials of ${node.type}`);
      const { credentials: _credentials, ...properties } = node;
      assert.ok(!JSON.stringify(properties).includes(TWILIO_TOKEN), `${node.type}: the token is in no property`);
    }

    const flowsText = await nodeRed.flowsText();
    const flows = JSON.parse(flowsText) as FlowNode[];
    const deployedCallLog = flows.find((node) => node.id === callLog.id)!;
    assert.equal(deployedCallLog.inputFormat, 'twilio');
    assert.equal(deployedCallLog.webhookUrl, 'https://pbx.example.com/twilio/status');
    const deployedNotify = flows.find((node) => node.id === notify.id)!;
    assert.equal(deployedNotify.inputFormat, 'twilio');
    assert.equal(deployedNotify.webhookUrl, 'https://pbx.example.com/twilio/voice');
    assert.equal(deployedNotify.eventCode, 'TC');
    assert.ok(!flowsText.includes(TWILIO_TOKEN), 'the token in GET /flows');
    assert.ok(!nodeRed.flowFileText().includes(TWILIO_TOKEN), 'the token in flows.json');
  });

  it('the runtime keeps the Twilio auth token in its credentials store (has_twilioAuthToken)', async function () {
    const { page } = editor;
    const callLog = await dragFromPalette(page, 'sangam-call-log', { x: 250, y: 100 });
    await openNodeDialog(page, callLog.id);
    await addConfigFromSelect(page, 'server');
    await typeInto(page, '#node-config-input-domain', 'http://127.0.0.1:9');
    await typeInto(page, '#node-config-input-token', 'not-a-real-token');
  await typeInto(page, '#node-config-input-token', 'not-a-real-token');
    await closeConfigDialog(page, 'server');
    await page.locator('#node-input-inputFormat').selectOption('twilio');
    await typeInto(page, '#node-input-twilioAuthToken', TWILIO_TOKEN);
    await closeNodeDialog(page);
    await clickDeploy(page);
    assert.deepEqual(await nodeRed.credentials('sangam-call-log', callLog.id), { has_twilioAuthToken: true });
  });

  it('offers the IANA zones as a list for the PBX time zone (call log, pop-up) and the server time zone, every one accepted by the runtime, and refuses a zone that is none', async function () {
    const { page } = editor;
    const callLog = await dragFromPalette(page, 'sangam-call-log', { x: 250, y: 100 });
    await openNodeDialog(page, callLog.id);
    await page.locator('#node-input-inputFormat').selectOption('asterisk');
    const listId = await page.locator('#node-input-pbxTimezone').getAttribute('list');
    assert.ok(listId, 'the PBX time zone field has a datalist');
    const offered = await page.locator(`datalist#${listId} option`).evaluateAll((options) => options.map((option) => (option as unknown as { value: string }).value));
    for (const zone of ['Asia/Kolkata', 'UTC', 'America/New_York', 'Europe/London', 'Asia/Dubai']) assert.ok(offered.includes(zone), `${zone} offered`);

    // Every zone the editor offers is one the runtime's date conversion takes.
    const refused = offered.filter((zone) => {
      try {
        formatCrmDate('2026-01-15T10:00:00Z', zone, 'pbxTimezone');
        return false;
      } catch {
        return true;
      }
    });
    assert.deepEqual(refused, []);
    // The same list made by the runtime's Node (validators.js runs there too): Chromium and Node
    // carry their own ICU, so a zone added or renamed in one release may differ; no more than that.
    require(join(packageRoot(), 'resources', 'validators.js'));
    const nodeZones = (globalThis as unknown as { SangamTelephonyValidators: { rules: { timeZones(): string[] } } }).SangamTelephonyValidators.rules.timeZones();
    const onlyInNode = nodeZones.filter((zone) => !offered.includes(zone));
    const onlyInBrowser = offered.filter((zone) => !nodeZones.includes(zone));
    assert.ok(nodeZones.length > 400 && onlyInNode.length + onlyInBrowser.length <= 5, `zones only in Node: ${onlyInNode.join(', ')}; only in the browser: ${onlyInBrowser.join(', ')}`);

    await typeInto(page, '#node-input-pbxTimezone', 'Mars/Olympus');
    await page.locator('#node-input-pbxTimezone.input-error').waitFor();
    await typeInto(page, '#node-input-pbxTimezone', 'Asia/Kolkata');
    await page.locator('#node-input-pbxTimezone:not(.input-error)').waitFor();
    await typeInto(page, '#node-input-pbxTimezone', '+05:30');
    await page.locator('#node-input-pbxTimezone.input-error').waitFor();
    await typeInto(page, '#node-input-pbxTimezone', '');
    await page.locator('#node-input-pbxTimezone:not(.input-error)').waitFor();
    await closeNodeDialog(page);

    const notify = await dragFromPalette(page, 'sangam-notify', { x: 250, y: 200 });
    await openNodeDialog(page, notify.id);
    await page.locator('#node-input-inputFormat').selectOption('asterisk');
    const notifyList = await page.locator('#node-input-pbxTimezone').getAttribute('list');
    assert.equal(await page.locator(`datalist#${notifyList} option`).count(), offered.length);
    await addConfigFromSelect(page, 'server');
    const serverList = await page.locator('#node-config-input-timezone').getAttribute('list');
    assert.equal(await page.locator(`datalist#${serverList} option`).count(), offered.length);
  });

  // Labels with plain hyphens, as users type them: each is found by the palette filter.
  const paletteSearches = [
    { type: 'sangam-notify', label: 'call pop-up', typed: 'pop-up', hides: 'sangam-call-log', says: 'with the hyphen' },
    { type: 'exotel-click2call', label: 'click-to-call', typed: 'click-to', hides: 'sangam-notify', says: 'with plain hyphens' },
  ];
  for (const search of paletteSearches) {
    it(`finds "${search.label}" when "${search.typed}" is typed in the palette filter, and shows its label ${search.says}`, async function () {
      const { page } = editor;
      const entry = page.locator(`.red-ui-palette-node[data-palette-type='${search.type}']`);
      assert.equal((await entry.locator('.red-ui-palette-label').innerText()).replace(/\s+/g, ' ').trim(), search.label);
      try {
        await typePaletteFilter(page, search.typed);
        await entry.waitFor({ state: 'visible' });
        await page.locator(`.red-ui-palette-node[data-palette-type='${search.hides}']`).waitFor({ state: 'hidden' });
      } finally {
        await clearPaletteFilter(page);
      }
    });
  }
});

// The palette filter reacts to keyup only (Node-RED's searchBox), so it is typed and cleared with
// keys: a programmatic fill('') empties the input but leaves the last filter applied, which hid
// the next test's node in CI. Each step checks that the input holds what was typed.
async function typePaletteFilter(page: Page, text: string): Promise<void> {
  const filter = page.locator('#red-ui-palette-search input');
  await filter.focus();
  await filter.press('Control+A');
  await filter.pressSequentially(text, { delay: 30 });
  assert.equal(await filter.inputValue(), text);
}

async function clearPaletteFilter(page: Page): Promise<void> {
  const filter = page.locator('#red-ui-palette-search input');
  await filter.focus();
  await filter.press('Escape');
  assert.equal(await filter.inputValue(), '');
  // Every one of our nodes is back once the empty filter has been applied.
  for (const type of ['sangam-call-log', 'sangam-notify', 'exotel-click2call']) {
    await page.locator(`.red-ui-palette-node[data-palette-type='${type}']`).waitFor({ state: 'visible' });
  }
}
