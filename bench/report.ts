/**
 * Presenting the figures: the console table, the PASS/FAIL lines and the SVG chart for the README.
 */

export interface ScenarioFigures {
  key: string;
  label: string;
  /** How msgs were driven into the flow (window, rate, burst). */
  drive: string;
  msgsSent: number;
  msgsOk: number;
  msgsFailed: number;
  /** Records the stand-in stored during the scenario. */
  recordsStored: number;
  seconds: number;
  /** null for scenarios outside Node-RED (no msgs). */
  msgsPerSecond: number | null;
  recordsPerSecond: number | null;
  /** Requests per second for pop-up scenarios (no records). */
  eventsPerSecond?: number | null;
  latency: { what: string; count: number; p50Ms: number; p99Ms: number; maxMs: number } | null;
  httpRequests: number;
  tcpConnections: number;
  peakRssMb: number;
  rssGrowthMb: number;
  cpuSeconds: number;
  crmCpuSeconds: number | null;
  /** The machine's 1-minute load average when the scenario ended: other work on a shared machine shows here. */
  loadAverage: number;
  errorSamples: string[];
  notes: string[];
  /** Every repetition when the scenario ran more than once (the figures above are the median one). */
  repetitions?: Array<{ msgsPerSecond: number | null; recordsPerSecond: number | null }>;
}

export interface TargetCheck {
  name: string;
  target: string;
  measured: string;
  pass: boolean;
}

/** This process's CPU time per msg that came out or failed (µs); null without msgs. */
export function cpuPerMsgUs(row: Pick<ScenarioFigures, 'cpuSeconds' | 'msgsOk' | 'msgsFailed'>): number | null {
  const msgs = row.msgsOk + row.msgsFailed;
  return msgs > 0 ? Math.round((row.cpuSeconds * 1e6) / msgs) : null;
}

function cell(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '-';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function figuresTable(rows: ReadonlyArray<ScenarioFigures>): string {
  const header = ['scenario', 'msgs/s', 'records/s', 'p50 ms', 'p99 ms', 'HTTP req', 'TCP conn', 'peak RSS MB', '+RSS MB', 'CPU s', 'CPU µs/msg', 'CRM CPU s', 'ok/failed', 'load'];
  const lines = rows.map((row) => [
    row.label,
    cell(row.msgsPerSecond ?? row.eventsPerSecond),
    cell(row.recordsPerSecond),
    cell(row.latency?.p50Ms, 2),
    cell(row.latency?.p99Ms, 2),
    cell(row.httpRequests),
    cell(row.tcpConnections),
    cell(row.peakRssMb, 1),
    cell(row.rssGrowthMb, 1),
    cell(row.cpuSeconds, 2),
    cell(cpuPerMsgUs(row)),
    cell(row.crmCpuSeconds, 2),
    `${row.msgsOk}/${row.msgsFailed}`,
    cell(row.loadAverage, 1),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)));
  const format = (line: string[]): string =>
    line.map((text, column) => (column === 0 ? text.padEnd(widths[column]!) : text.padStart(widths[column]!))).join('  ');
  return [format(header), widths.map((width) => '-'.repeat(width)).join('  '), ...lines.map(format)].join('\n');
}

export function targetLines(checks: ReadonlyArray<TargetCheck>): string {
  return checks.map((check) => `${check.pass ? 'PASS' : 'FAIL'}  ${check.name}: ${check.measured} (target ${check.target})`).join('\n');
}

export interface ChartBar {
  label: string;
  value: number | null;
  /** Where the target for this bar lies, drawn as a tick. */
  target?: number;
  group: 'loopback' | 'rtt50';
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Horizontal bars on a log scale: throughput of a, b, c on loopback, and a, b with a 50 ms round trip. */
export function chartSvg(bars: ReadonlyArray<ChartBar>, subtitle: string): string {
  const width = 760;
  const labelWidth = 250;
  const plotLeft = labelWidth + 10;
  const plotRight = width - 70;
  const rowHeight = 30;
  const top = 74;
  const groupGap = 26;
  const values = bars.flatMap((bar) => [bar.value ?? 0, bar.target ?? 0]).filter((value) => value > 0);
  const minExponent = Math.floor(Math.log10(Math.max(1, Math.min(...values, 100))));
  const maxExponent = Math.ceil(Math.log10(Math.max(...values, 1000)));
  const x = (value: number): number =>
    plotLeft + ((Math.log10(Math.max(value, 10 ** minExponent)) - minExponent) / (maxExponent - minExponent)) * (plotRight - plotLeft);

  const parts: string[] = [];
  let y = top;
  let previousGroup: ChartBar['group'] | undefined;
  const rowY: number[] = [];
  for (const bar of bars) {
    if (previousGroup !== undefined && bar.group !== previousGroup) y += groupGap;
    if (bar.group !== previousGroup) {
      const title = bar.group === 'loopback' ? 'Loopback (CRM answers at once)' : 'Simulated 50 ms round trip to the CRM';
      parts.push(`<text x="10" y="${y - 6}" class="group">${escapeXml(title)}</text>`);
    }
    previousGroup = bar.group;
    rowY.push(y);
    const colour = bar.label.startsWith('b') ? '#1f7a4d' : bar.label.startsWith('c') ? '#7a7a7a' : '#b5522b';
    const barEnd = bar.value && bar.value > 0 ? x(bar.value) : plotLeft;
    parts.push(`<text x="${labelWidth}" y="${y + 19}" text-anchor="end">${escapeXml(bar.label)}</text>`);
    parts.push(`<rect x="${plotLeft}" y="${y + 5}" width="${Math.max(1, barEnd - plotLeft).toFixed(1)}" height="${rowHeight - 10}" fill="${colour}"/>`);
    const valueText = bar.value === null ? 'n/a' : Math.round(bar.value).toLocaleString('en-US');
    const targetX = bar.target && bar.target > 0 ? x(bar.target) : undefined;
    // The value sits after the bar, or after the target tick when the tick would cross it (~7 px a character).
    let valueX = barEnd + 5;
    if (targetX !== undefined && targetX >= valueX - 2 && targetX <= valueX + valueText.length * 7) valueX = targetX + 5;
    parts.push(`<text x="${valueX.toFixed(1)}" y="${y + 19}" class="value">${valueText}</text>`);
    if (targetX !== undefined) {
      parts.push(`<line x1="${targetX.toFixed(1)}" x2="${targetX.toFixed(1)}" y1="${y + 1}" y2="${y + rowHeight - 1}" class="target"/>`);
    }
    y += rowHeight;
  }
  const bottom = y + 8;
  const grid: string[] = [];
  for (let exponent = minExponent; exponent <= maxExponent; exponent++) {
    const gridX = x(10 ** exponent).toFixed(1);
    grid.push(`<line x1="${gridX}" x2="${gridX}" y1="${top - 2}" y2="${bottom}" class="grid"/>`);
    grid.push(`<text x="${gridX}" y="${bottom + 16}" text-anchor="middle" class="axis">${(10 ** exponent).toLocaleString('en-US')}</text>`);
  }
  const height = bottom + 58;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    '<style>.group{font-weight:bold;fill:#222}.value{fill:#222}.axis{fill:#555;font-size:11px}.grid{stroke:#ddd;stroke-width:1}.target{stroke:#000;stroke-width:2;stroke-dasharray:3 2}.note{fill:#555;font-size:11px}</style>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">Call logs into SangamCRM: msgs/s (one record per msg), log scale</text>`,
    `<text x="10" y="40" class="note">${escapeXml(subtitle)}</text>`,
    ...grid,
    ...parts,
    `<text x="10" y="${height - 22}" class="note">a: function node + core http request node (defaults). b: sangam-call-log (defaults). c: plain got, keep-alive, batches of 100 (records/s).</text>`,
    `<text x="10" y="${height - 8}" class="note">Dashed tick: the target (b &gt;= 30x a on loopback, b &gt;= 50x a with a 50 ms round trip).</text>`,
    '</svg>',
    '',
  ].join('\n');
}
