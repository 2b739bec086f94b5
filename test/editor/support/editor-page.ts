/**
 * Debian's chromium driven by playwright-core against the real Node-RED editor. Only requests to
 * 127.0.0.1 (and data: URLs) pass: the editor must work offline, and a test must not reach out.
 * Browser-side code (page.evaluate) sees the editor's RED through the EditorGlobals type below,
 * which names just what these tests use (the test build has no DOM lib).
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import type { PackedNodeRed } from './packed-node-red';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A node as the editor holds it (RED.nodes.node(id)). */
export interface EditorNode {
  id: string;
  type: string;
  z?: string;
  valid?: boolean;
  validationErrors?: string[];
  [property: string]: unknown;
}

/** The parts of the editor's RED global these tests call. */
export interface EditorRED {
  nodes: {
    node(id: string): EditorNode | null;
    filterNodes(filter: { type?: string; z?: string }): EditorNode[];
    eachConfig(callback: (node: EditorNode) => boolean | void): void;
    dirty(): boolean;
    getType(type: string): { category?: string } | null;
  };
  actions: { invoke(name: string, ...args: unknown[]): void };
  editor: { edit(node: EditorNode): void };
  sidebar: { show(id: string): void };
  view: { select(selection: string | { nodes: EditorNode[] }): void };
  workspaces: { active(): string };
  i18n: { lang(): string };
}

export interface EditorGlobals {
  RED: EditorRED;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

export interface EditorPage {
  context: BrowserContext;
  page: Page;
  /** Uncaught page errors and console errors seen so far (the editor must load cleanly). */
  problems: string[];
}

/** A new browser context (own locale, storage) with the editor loaded and the palette filled. */
export async function openEditor(browser: Browser, nodeRed: PackedNodeRed, locale = 'en-US'): Promise<EditorPage> {
  const context = await browser.newContext({ locale, viewport: { width: 1400, height: 950 } });
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.protocol === 'data:' || url.hostname === '127.0.0.1') return route.continue();
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  await page.goto(`${nodeRed.url}/`);
  await page.locator(".red-ui-palette-node[data-palette-type='sangam-call-log']").waitFor({ state: 'attached', timeout: 60_000 });
  // The editor finishes loading (workspace tab, comms) after the palette: wait until a flow tab is active.
  await page.waitForFunction(() => {
    const { RED } = globalThis as unknown as EditorGlobals;
    return typeof RED?.workspaces?.active === 'function' && Boolean(RED.workspaces.active());
  });
  return { context, page, problems };
}

/** Drags a palette entry onto the workspace with the mouse, as a user does; returns the new node. */
export async function dragFromPalette(page: Page, type: string, at: { x: number; y: number }): Promise<EditorNode> {
  const before = await nodeIdsOfType(page, type);
  const paletteNode = page.locator(`.red-ui-palette-node[data-palette-type='${type}']`);
  await paletteNode.scrollIntoViewIfNeeded();
  const from = await paletteNode.boundingBox();
  const chart = await page.locator('#red-ui-workspace-chart').boundingBox();
  if (!from || !chart) throw new Error(`no bounding box for the ${type} palette entry or the workspace`);
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  // jQuery UI's draggable starts after a few pixels of movement: move in steps.
  await page.mouse.move(chart.x + at.x, chart.y + at.y, { steps: 20 });
  await page.mouse.up();
  const handle = await page.waitForFunction(
    ({ type, before }) => {
      const { RED } = globalThis as unknown as EditorGlobals;
      const added = RED.nodes.filterNodes({ type }).filter((node) => !before.includes(node.id));
      return added.length === 1 ? added[0]!.id : undefined;
    },
    { type, before },
  );
  const id = (await handle.jsonValue()) as string;
  return editorNode(page, id);
}

export async function nodeIdsOfType(page: Page, type: string): Promise<string[]> {
  return page.evaluate((type) => {
    const { RED } = globalThis as unknown as EditorGlobals;
    return RED.nodes.filterNodes({ type }).map((node) => node.id);
  }, type);
}

/** A plain copy of the editor's node (its own properties that survive JSON). */
export async function editorNode(page: Page, id: string): Promise<EditorNode> {
  return page.evaluate((id) => {
    const { RED } = globalThis as unknown as EditorGlobals;
    const node = RED.nodes.node(id);
    if (!node) throw new Error(`no node ${id} in the editor`);
    const copy: EditorNode = { id: node.id, type: node.type, z: node.z, valid: node.valid, validationErrors: node.validationErrors };
    for (const [key, value] of Object.entries(node)) {
      if (!key.startsWith('_') && ['string', 'number', 'boolean'].includes(typeof value)) copy[key] = value;
    }
    return copy;
  }, id);
}

/** The node's shape on the workspace (the svg group Node-RED gives the node's id). */
export function nodeOnWorkspace(page: Page, id: string) {
  return page.locator(`#red-ui-workspace-chart g.red-ui-flow-node-group[id="${id}"]`);
}

/** Opens a node's edit dialog by double-clicking it on the workspace. */
export async function openNodeDialog(page: Page, id: string): Promise<void> {
  await nodeOnWorkspace(page, id).locator('rect.red-ui-flow-node').dblclick();
  await page.locator('#node-dialog-ok').waitFor({ state: 'visible' });
}

/** Clicks Done in the node dialog and waits until the tray is gone. */
export async function closeNodeDialog(page: Page): Promise<void> {
  await page.locator('#node-dialog-ok').click();
  await page.locator('#node-dialog-ok').waitFor({ state: 'detached' });
}

/** Opens the add-config dialog of a config select (the + button next to it) and waits for it. */
export async function addConfigFromSelect(page: Page, property: string): Promise<void> {
  const add = page.locator(`#node-input-btn-${property}-add`);
  const ok = page.locator('#node-config-dialog-ok');
  // A click that lands while the node's tray is still being set up can be lost (a CI run waited
  // 30 s for a dialog that never came): click again, but only while no config dialog has appeared.
  for (let attempt = 1; ; attempt++) {
    await add.click();
    try {
      await ok.waitFor({ state: 'attached', timeout: 10_000 });
      break;
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
  await ok.waitFor({ state: 'visible' });
}

/** Clicks Add/Update in the config dialog and returns the id the worker's select now holds. */
export async function closeConfigDialog(page: Page, property: string): Promise<string> {
  await page.locator('#node-config-dialog-ok').click();
  await page.locator('#node-config-dialog-ok').waitFor({ state: 'detached' });
  return page.locator(`#node-input-${property}`).inputValue();
}

/** Types a value into a field as a user does and leaves it (Tab), so change handlers run. */
export async function typeInto(page: Page, selector: string, value: string): Promise<void> {
  const field = page.locator(selector);
  await field.fill(value);
  await field.press('Tab');
}

/**
 * Clicks Deploy. With `confirmInvalid`, expects the "not properly configured" warning first,
 * returns its text and confirms it. Resolves once the editor is no longer dirty (the runtime
 * answered the deploy).
 */
export async function clickDeploy(page: Page, options: { confirmInvalid?: boolean } = {}): Promise<string | undefined> {
  await page.locator('#red-ui-header-button-deploy').click();
  let warning: string | undefined;
  if (options.confirmInvalid) {
    const confirm = page.locator('#red-ui-deploy-dialog-confirm-deploy-deploy');
    await confirm.waitFor({ state: 'visible' });
    warning = await page.locator('.red-ui-notification', { has: confirm }).innerText();
    await confirm.click();
  }
  await page.waitForFunction(() => {
    const { RED } = globalThis as unknown as EditorGlobals;
    return !RED.nodes.dirty();
  });
  return warning;
}

/** Empties the runtime's flows and reloads the editor on them. */
export async function resetEditor(editor: EditorPage, nodeRed: PackedNodeRed): Promise<void> {
  await nodeRed.deploy([]);
  await editor.page.reload();
  await editor.page.locator(".red-ui-palette-node[data-palette-type='sangam-call-log']").waitFor({ state: 'attached', timeout: 60_000 });
  await editor.page.waitForFunction(() => {
    const { RED } = globalThis as unknown as EditorGlobals;
    return typeof RED?.workspaces?.active === 'function' && Boolean(RED.workspaces.active()) && RED.nodes.filterNodes({}).length === 0;
  });
}

/**
 * Where screenshots go: docs/images when EDITOR_SCREENSHOTS names it (to refresh the README's
 * pictures), else a temporary dir, so that a plain test run leaves the working tree alone.
 */
export function screenshotDir(): string {
  const dir = process.env.EDITOR_SCREENSHOTS ?? join(tmpdir(), 'sangam-editor-screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}
