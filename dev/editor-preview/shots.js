// Drives the real Node-RED editor (started with setup.sh) in Debian's chromium and takes
// screenshots of the palette, every node's edit dialog, invalid values and the help panel.
// Usage: node dev/editor-preview/shots.js [en-US|hi]   (URL from NR_URL, output dir from SHOTS)
const { chromium } = require('playwright-core');
const fs = require('fs');

const URL = process.env.NR_URL || 'http://127.0.0.1:1890/';
const LOCALE = process.argv[2] || 'en-US';
const OUT = (process.env.SHOTS || '/tmp/h4-shots') + '/' + LOCALE;

const FLOW = [
  { id: 'sc1', type: 'sangam-config', name: '', domain: 'acme.sangamcrm.com', allowInsecure: false, ivrName: 'pbx-1',
    timezone: 'Asia/Kolkata', timeout: 10000, maxSockets: 8, outbox: true, outboxMaxRecords: 100000 },
  { id: 'ec1', type: 'exotel-config', name: '', accountSid: 'acme1', subdomain: 'api.exotel.com', allowInsecure: false,
    callerId: '08047112233', rateLimit: 200, timeout: 10000 },
  { id: 'cl1', type: 'sangam-call-log', name: '', server: 'sc1', ivrName: '', ivrNameType: 'str', inputFormat: 'record',
    batchSize: 100, batchWindow: 50, concurrency: 4, retries: 4, x: 300, y: 100, wires: [[]] },
  { id: 'cl2', type: 'sangam-call-log', name: 'Exotel calls', server: 'sc1', ivrName: 'IVR_NAME', ivrNameType: 'env',
    inputFormat: 'exotel', batchSize: 1, batchWindow: 50, concurrency: 4, retries: 4, x: 300, y: 160, wires: [[]] },
  { id: 'nt1', type: 'sangam-notify', name: '', server: 'sc1', ivrName: '', ivrNameType: 'str', maxAge: 30, retries: 2,
    x: 300, y: 220, wires: [[]] },
  { id: 'cc1', type: 'exotel-click2call', name: '', account: 'ec1', callerId: '', callType: '', timeLimit: '', timeOut: '',
    waitUrl: '', record: true, recordingChannels: 'dual', recordingFormat: '', customField: '', statusCallback: '',
    statusCallbackEvents: '', statusCallbackContentType: '', x: 300, y: 280, wires: [[]] },
];

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  // Start from an empty workspace (a previous run deployed its flow).
  await fetch(URL + 'flows', { method: 'POST', headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' }, body: '[]' });
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ locale: LOCALE, viewport: { width: 1400, height: 950 } });
  // Only the local Node-RED: anything else is refused.
  await context.route('**/*', (route) => {
    const u = new globalThis.URL(route.request().url());
    if (u.hostname === '127.0.0.1' || u.protocol === 'data:') return route.continue();
    return route.abort();
  });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(m.type() + ': ' + m.text()); });

  await page.goto(URL);
  await page.waitForSelector(".red-ui-palette-node[data-palette-type='sangam-call-log']", { timeout: 30000 });
  await page.waitForTimeout(500);
  await page.evaluate((flow) => { RED.view.importNodes(flow); RED.view.select({ nodes: [] }); }, FLOW);
  await page.waitForTimeout(500);
  await page.addStyleTag({ content: '.red-ui-notification { display: none !important; }' });

  // Palette: our category only, and the nodes on the canvas.
  await page.fill('#red-ui-palette-search input', 'call');
  await page.waitForTimeout(400);
  await page.screenshot({ path: `${OUT}/palette-search.png`, clip: { x: 0, y: 0, width: 700, height: 420 } });
  await page.fill('#red-ui-palette-search input', '');
  const category = page.locator('#red-ui-palette-container-SangamCRM');
  await category.scrollIntoViewIfNeeded();
  await category.screenshot({ path: `${OUT}/palette-category.png` });

  const labels = await page.evaluate(() => {
    const out = {};
    for (const type of ['sangam-config', 'sangam-call-log', 'sangam-notify', 'exotel-config', 'exotel-click2call']) {
      const def = RED.nodes.getType(type);
      out[type] = { palette: RED.utils.getPaletteLabel(type, def), category: def.category };
    }
    RED.nodes.eachNode((n) => { out[n.id] = { label: RED.utils.getNodeLabel(n), valid: n.valid, errors: n.validationErrors }; });
    RED.nodes.eachConfig((n) => { out[n.id] = { label: RED.utils.getNodeLabel(n), valid: n.valid, errors: n.validationErrors }; });
    return out;
  });

  async function shotTray(name) {
    await page.waitForTimeout(700);
    await page.screenshot({ path: `${OUT}/${name}.png` });
  }
  async function closeTray(cancel = true) {
    await page.click(cancel ? '#node-dialog-cancel, #node-config-dialog-cancel' : '#node-dialog-ok, #node-config-dialog-ok');
    await page.waitForTimeout(500);
  }
  async function errorsInTray() {
    return page.evaluate(() => Array.from(document.querySelectorAll('.red-ui-tray .input-error')).map((e) => e.id || e.className));
  }
  async function setValues(values, configDialog) {
    await page.evaluate(({ values, configDialog }) => {
      const prefix = configDialog ? '#node-config-input-' : '#node-input-';
      for (const [k, v] of Object.entries(values)) {
        const el = $(prefix + k);
        if (el.attr('type') === 'checkbox') el.prop('checked', v); else if (el.next('.red-ui-typedInput-container').length) el.typedInput('value', v); else el.val(v);
        el.trigger('change');
      }
    }, { values, configDialog });
    await page.waitForTimeout(300);
  }
  const report = { labels, invalid: {} };

  // Worker nodes.
  for (const [id, name] of [['cl1', 'call-log'], ['cl2', 'call-log-exotel'], ['nt1', 'notify'], ['cc1', 'click2call']]) {
    await page.evaluate((id) => RED.editor.edit(RED.nodes.node(id)), id);
    await shotTray(`dialog-${name}`);
    await closeTray();
  }
  // Invalid values show red.
  const bad = {
    cl1: { batchSize: '0', batchWindow: '1.5', concurrency: '65', retries: 'x', ivrName: 'has space' },
    nt1: { maxAge: '-1', retries: '6' },
    cc1: { callerId: '0804ABC', timeLimit: '14401', timeOut: '2.5', customField: 'x'.repeat(129), statusCallback: 'ftp://x', waitUrl: 'nope' },
  };
  for (const [id, values] of Object.entries(bad)) {
    await page.evaluate((id) => RED.editor.edit(RED.nodes.node(id)), id);
    await page.waitForTimeout(600);
    await setValues(values, false);
    report.invalid[id] = await errorsInTray();
    // hover one to show its tooltip
    const first = Object.keys(values)[0];
    await page.hover(`#node-input-${first}`).catch(() => {});
    await page.waitForTimeout(900);
    await shotTray(`invalid-${id}`);
    await closeTray();
  }

  // Config nodes: tabs, and invalid values.
  await page.evaluate(() => RED.editor.editConfig('', 'sangam-config', 'sc1'));
  await shotTray('dialog-sangam-config');
  await page.click('#node-config-sangam-config-tabs a[href="#sangam-config-tab-advanced"]').catch(async () => {
    await page.locator('#node-config-sangam-config-tabs li').nth(1).click();
  });
  await shotTray('dialog-sangam-config-advanced');
  await page.locator('#node-config-sangam-config-tabs li').nth(0).click();
  for (const [n, values] of [
    ['path', { domain: 'https://crm.example.com/api' }],
    ['http', { domain: 'http://crm.example.com' }],
    ['http-allowed', { domain: 'http://crm.example.com', allowInsecure: true }],
    ['loopback', { domain: 'http://127.0.0.1:8080', allowInsecure: false }],
    ['tz', { domain: 'acme.sangamcrm.com', timezone: 'Asia/Kolkatta', ivrName: 'a b' }],
  ]) {
    await setValues(values, true);
    report.invalid['sc1-' + n] = await errorsInTray();
  }
  await page.hover('#node-config-input-timezone').catch(() => {});
  await shotTray('invalid-sangam-config');
  await closeTray();
  await page.evaluate(() => RED.editor.editConfig('', 'exotel-config', 'ec1'));
  await shotTray('dialog-exotel-config');
  await setValues({ accountSid: 'bad sid', subdomain: 'http://api.exotel.com', callerId: '0804711223X', rateLimit: '0' }, true);
  report.invalid.ec1 = await errorsInTray();
  await shotTray('invalid-exotel-config');
  await closeTray();

  // What the validators say (with opt: a message; without: false), straight from the definitions.
  report.messages = await page.evaluate(() => {
    const cases = {
      'sangam-config': { domain: ['https://crm.example.com/x', 'http://crm.example.com', 'user:pw@crm.example.com', 'ftp://x', 'a b', 'acme.sangamcrm.com', 'http://[::1]:8080'],
        timezone: ['Asia/Kolkatta', '+05:30', 'UTC', 'asia/kolkata', ''], ivrName: ['a b', 'pbx-1'], timeout: ['99', '10000', '1e4'], maxSockets: ['0', '257', '8'], outboxMaxRecords: ['0', '100000'] },
      'sangam-call-log': { batchSize: ['0', '1001', '1', '1000', '2.5', ''], batchWindow: ['10001', '0'], concurrency: ['0', '64'], retries: ['21', '0'], ivrName: ['a b', '', 'pbx-1'] },
      'sangam-notify': { maxAge: ['0', '86401', '-1'], retries: ['6', '5'] },
      'exotel-config': { accountSid: ['bad sid', 'acme_1-x'], subdomain: ['api.in.exotel.com', 'http://api.exotel.com', 'api.exotel.com/v1'], callerId: ['0804711223X', '+91 80 4711 2233', '123', ''], rateLimit: ['0', '10001', '200'] },
      'exotel-click2call': { callerId: ['08047ABC', '08047112233'], timeLimit: ['14401', '14400', '0', ''], timeOut: ['2.5', '30'], customField: ['x'.repeat(129), 'x'.repeat(128)], statusCallback: ['ftp://x', 'https://h.example/cb', ''], waitUrl: ['nope'], statusCallbackEvents: ['terminal,answered', 'bogus'] },
    };
    const out = {};
    for (const [type, props] of Object.entries(cases)) {
      const def = RED.nodes.getType(type);
      const node = { type, _def: def, allowInsecure: false, ivrNameType: 'str' };
      for (const [prop, values] of Object.entries(props)) {
        for (const v of values) {
          out[`${type}.${prop}=${JSON.stringify(v).slice(0, 30)}`] = [def.defaults[prop].validate.call(node, v, {}), def.defaults[prop].validate.call(node, v)];
        }
      }
    }
    return out;
  });

  // Help panel.
  await page.setViewportSize({ width: 1400, height: 2600 });
  for (const type of ['sangam-config', 'sangam-call-log', 'sangam-notify', 'exotel-config', 'exotel-click2call']) {
    await page.evaluate((type) => RED.sidebar.help.show(type), type);
    await page.waitForTimeout(600);
    await page.locator('#red-ui-sidebar-content').screenshot({ path: `${OUT}/help-${type}.png` });
  }
  // Deploy (no credentials, no servers reachable): the runtime's status texts come from the catalogs.
  await page.setViewportSize({ width: 1400, height: 950 });
  await page.evaluate(() => { RED.nodes.dirty(true); RED.actions.invoke('core:deploy-flows'); });
  await page.waitForTimeout(1000);
  const confirm = page.locator('#node-dialog-confirm-deploy-deploy');
  if (await confirm.count()) await confirm.click();
  await page.waitForTimeout(3000);
  report.status = await page.evaluate(() => {
    const out = {};
    RED.nodes.eachNode((n) => { out[n.id] = n.status ? n.status.text : null; });
    return out;
  });
  await page.screenshot({ path: `${OUT}/workspace.png`, clip: { x: 170, y: 40, width: 700, height: 360 } });

  report.problems = problems;
  fs.writeFileSync(`${OUT}/report.json`, JSON.stringify(report, null, 2));
  console.log(JSON.stringify(report, null, 2));
  await browser.close();
}
main().catch((e) => { console.error(e); process.exit(1); });
