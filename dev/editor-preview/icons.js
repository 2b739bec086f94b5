// Renders nodes/icons/*.svg at 1x and 6x on the node colour: node dev/editor-preview/icons.js
const { chromium } = require('playwright-core');
const path = require('path');
(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--allow-file-access-from-files'] });
  const page = await browser.newPage({ viewport: { width: 1000, height: 420 } });
  await page.goto('file://' + path.join(__dirname, 'icons.html'));
  await page.waitForTimeout(300);
  await page.screenshot({ path: (process.env.SHOTS || '/tmp/h4-shots') + '/icons.png' });
  await browser.close();
})();
