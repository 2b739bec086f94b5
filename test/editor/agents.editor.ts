/**
 * The agent directory of sangam-config in the real editor (packed package): the editable list
 * (add, edit, remove), Import CSV into the list, CSV errors naming the line, what lands in
 * flows.json, and the editor's CSV parser against the table the runtime's parser is tested with.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { FlowNode } from '../support/node-red-process';
import { AGENTS_CSV_CASES, type AgentsCsvAgent } from '../cases/agents-csv-cases';
import { type PackedNodeRed, sharedNodeRed } from './support/packed-node-red';
import {
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

const FIELDS = ['name', 'extension', 'phone', 'userId', 'email'] as const;
const ROWS = '#node-config-input-agents-list > li';

/** The agents the dialog's list shows, row by row. */
async function listed(page: Page): Promise<AgentsCsvAgent[]> {
  const rows = page.locator(ROWS);
  const agents: AgentsCsvAgent[] = [];
  for (let i = 0; i < (await rows.count()); i += 1) {
    const agent = {} as AgentsCsvAgent;
    for (const field of FIELDS) agent[field] = await rows.nth(i).locator(`input.sangam-config-agent-${field}`).inputValue();
    agents.push(agent);
  }
  return agents;
}

async function fillRow(page: Page, index: number, agent: Partial<AgentsCsvAgent>): Promise<void> {
  for (const [field, value] of Object.entries(agent)) await typeInto(page, `${ROWS}:nth-child(${index + 1}) input.sangam-config-agent-${field}`, value);
}

async function importCsv(page: Page, text: string): Promise<string> {
  if (!(await page.locator('#sangam-config-agents-csv').isVisible())) await page.locator('#sangam-config-agents-csv-open').click();
  await page.locator('#sangam-config-agents-csv').fill(text);
  await page.locator('#sangam-config-agents-csv-import').click();
  return page.locator('#sangam-config-agents-csv-message').innerText();
}

/** A new call log with a new server whose dialog is open on its Agents tab. */
async function openAgentsTab(page: Page): Promise<string> {
  const callLog = await dragFromPalette(page, 'sangam-call-log', { x: 250, y: 100 });
  await openNodeDialog(page, callLog.id);
  await addConfigFromSelect(page, 'server');
  await typeInto(page, '#node-config-input-name', 'Acme CRM');
  await typeInto(page, '#node-config-input-domain', 'http://127.0.0.1:9');
  await typeInto(page, '#node-config-input-token', 'not-a-real-token');
  await page.locator('#node-config-sangam-config-tabs a[href="#sangam-config-tab-agents"]').click();
  await page.locator('#sangam-config-tab-agents .red-ui-editableList-addButton').waitFor({ state: 'visible' });
  return callLog.id;
}

describe('the agent directory in the sangam-config dialog (packed package)', function () {
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

  it('adds, edits and removes agents by hand, appends the rows of an imported CSV, saves the list into flows.json and shows it again', async function () {
    const { page } = editor;
    const callLogId = await openAgentsTab(page);
    const add = page.locator('#sangam-config-tab-agents .red-ui-editableList-addButton');

    await add.click();
    await fillRow(page, 0, { name: 'Temp', extension: '299' });
    await add.click();
    await fillRow(page, 1, { name: 'Asha', extension: '201', phone: '+91 98123 45678', userId: 'u-asha', email: 'asha@example.com' });
    await fillRow(page, 1, { name: 'Asha Rao' });
    await page.locator(`${ROWS}:nth-child(1) .red-ui-editableList-item-remove`).click();
    await page.waitForFunction((rows) => (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<unknown> } }).document.querySelectorAll(rows).length === 1, ROWS);

    const message = await importCsv(page, 'name,extension,phone,userId,email\n"Kumar, Ravi",202,,u-ravi,ravi@example.com\nMeena,203,09876543210,,\n');
    assert.equal(message, 'Added to the list: 2');
    assert.equal(await page.locator('#sangam-config-agents-csv').inputValue(), '', 'the imported text is cleared');
    const expected: AgentsCsvAgent[] = [
      { name: 'Asha Rao', extension: '201', phone: '+91 98123 45678', userId: 'u-asha', email: 'asha@example.com' },
      { name: 'Kumar, Ravi', extension: '202', phone: '', userId: 'u-ravi', email: 'ravi@example.com' },
      { name: 'Meena', extension: '203', phone: '09876543210', userId: '', email: '' },
    ];
    assert.deepEqual(await listed(page), expected);
    assert.equal(await page.locator('#sangam-config-agents-csv').isVisible(), false, 'the CSV panel closes after an import');
    await page.locator('#node-config-sangam-config-tabs').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(screenshotDir(), 'sangam-config-agents.png') });

    const serverId = await closeConfigDialog(page, 'server');
    await closeNodeDialog(page);
    assert.equal(await clickDeploy(page), undefined);

    const saved = JSON.parse(nodeRed.flowFileText()) as FlowNode[];
    const server = saved.find((node) => node.id === serverId);
    assert.ok(server, 'the server in flows.json');
    assert.deepEqual(server.agents, expected);

    // Opened again, the dialog shows the saved list.
    await openNodeDialog(page, callLogId);
    await page.locator('#node-input-btn-server-edit').click();
    await page.locator('#node-config-dialog-ok').waitFor({ state: 'visible' });
    await page.locator('#node-config-sangam-config-tabs a[href="#sangam-config-tab-agents"]').click();
    assert.deepEqual(await listed(page), expected);
  });

  it('refuses CSV text with an error naming the line, adding nothing, and flags duplicate extensions', async function () {
    const { page } = editor;
    await openAgentsTab(page);
    assert.equal(await importCsv(page, 'name,extension\nAsha,201\n'), 'Added to the list: 1');
    for (const { text, error } of AGENTS_CSV_CASES.filter((entry) => entry.error !== undefined)) {
      const message = await importCsv(page, text);
      assert.equal(message, `Nothing added: ${error}`);
      assert.ok(await page.locator('#sangam-config-agents-csv-message.sangam-config-agents-csv-error').isVisible(), 'shown as an error');
      assert.equal(await page.locator(ROWS).count(), 1, `nothing added for ${JSON.stringify(text)}`);
    }
    // The same extension twice: the directory would refuse it, the dialog says so.
    assert.equal(await importCsv(page, 'name,extension\nRavi,201\n'), 'Added to the list: 1');
    await page.locator('#node-config-dialog-ok').click();
    const invalid = await page.evaluate(() => {
      const { RED } = globalThis as unknown as { RED: { nodes: { eachConfig(cb: (node: { type: string; valid?: boolean; validationErrors?: string[] }) => void): void } } };
      const found: Array<{ valid?: boolean; errors?: string[] }> = [];
      RED.nodes.eachConfig((node) => {
        if (node.type === 'sangam-config') found.push({ valid: node.valid, errors: node.validationErrors });
      });
      return found;
    });
    assert.deepEqual(invalid, [{ valid: false, errors: ['Agents 1 and 2 have the same extension "201": each may belong to one agent'] }]);
  });

  it('parses every case of the table shared with the runtime exactly as parseAgentsCsv does', async function () {
    const { page } = editor;
    const results = await page.evaluate((cases) => {
      const { SangamTelephonyValidators } = globalThis as unknown as { SangamTelephonyValidators: { rules: { parseAgentsCsv(text: string): unknown } } };
      return cases.map(({ text }) => {
        try {
          return { agents: SangamTelephonyValidators.rules.parseAgentsCsv(text) };
        } catch (error) {
          return { error: (error as Error).message };
        }
      });
    }, AGENTS_CSV_CASES as typeof AGENTS_CSV_CASES extends readonly (infer T)[] ? T[] : never);
    AGENTS_CSV_CASES.forEach(({ title, agents, error }, index) => {
      assert.deepEqual(results[index], error !== undefined ? { error } : { agents }, title);
    });
  });
});
