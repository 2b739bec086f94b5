/**
 * The soak's arithmetic and presentation: least-squares slopes, percentiles, the README table
 * and the SVG plot of RSS and outbox size over time (plain SVG text, as bench/report.ts does).
 */

export interface Fit {
  /** Change per hour, in the series' unit. */
  slopePerHour: number;
  /** Value of the fitted line at the first post-warm-up sample. */
  start: number;
  /** Standard error of the slope, per hour. */
  slopeErrorPerHour: number;
  samples: number;
}

/** Least squares of `values` against `timesS` (seconds); the slope is given per hour. */
export function linearFit(timesS: ReadonlyArray<number>, values: ReadonlyArray<number>): Fit {
  const n = Math.min(timesS.length, values.length);
  if (n < 3) return { slopePerHour: 0, start: values[0] ?? 0, slopeErrorPerHour: Number.POSITIVE_INFINITY, samples: n };
  let meanT = 0;
  let meanV = 0;
  for (let i = 0; i < n; i++) {
    meanT += timesS[i]!;
    meanV += values[i]!;
  }
  meanT /= n;
  meanV /= n;
  let sTT = 0;
  let sTV = 0;
  for (let i = 0; i < n; i++) {
    sTT += (timesS[i]! - meanT) ** 2;
    sTV += (timesS[i]! - meanT) * (values[i]! - meanV);
  }
  const slope = sTT === 0 ? 0 : sTV / sTT;
  let residuals = 0;
  for (let i = 0; i < n; i++) residuals += (values[i]! - (meanV + slope * (timesS[i]! - meanT))) ** 2;
  const slopeError = sTT === 0 ? Number.POSITIVE_INFINITY : Math.sqrt(residuals / (n - 2) / sTT);
  return { slopePerHour: slope * 3600, start: meanV + slope * (timesS[0]! - meanT), slopeErrorPerHour: slopeError * 3600, samples: n };
}

/** Nearest-rank percentile (0-100) of unsorted values; 0 for none. */
export function percentile(values: ReadonlyArray<number>, p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface SoakCheck {
  name: string;
  measured: string;
  target: string;
  pass: boolean;
  /** Judged only on a full run: the short variant reports it without failing on it. */
  fullRunOnly?: boolean;
}

export function checkLines(checks: ReadonlyArray<SoakCheck>, judgeAll: boolean): string {
  return checks
    .map((check) => {
      const verdict = check.pass ? 'PASS' : !judgeAll && check.fullRunOnly ? 'info' : 'FAIL';
      return `${verdict.padEnd(4)}  ${check.name}: ${check.measured} (target ${check.target})`;
    })
    .join('\n');
}

/** The README table: one row per check. */
export function checksMarkdown(checks: ReadonlyArray<SoakCheck>): string {
  const rows = checks.map((check) => `| ${check.name} | ${check.measured} | ${check.target} | ${check.pass ? 'pass' : 'FAIL'} |`);
  return ['| what | measured | target | |', '|---|---|---|---|', ...rows].join('\n');
}

export interface PlotSample {
  tS: number;
  rssMb: number;
  heapUsedMb: number;
  journalKb: number;
  waiting: number;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A tick step of 1, 2 or 5 times a power of ten giving about `count` ticks up to `max`. */
function tickStep(max: number, count: number): number {
  const raw = Math.max(max, 1e-9) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((factor) => factor * power).find((step) => step >= raw) ?? 10 * power;
}

interface Panel {
  title: string;
  series: Array<{ label: string; colour: string; values: number[] }>;
  unit: string;
}

/**
 * Two panels sharing the time axis: Node-RED's RSS and heap used (MB), and the outbox (journal
 * size on disk in KB, records waiting). Outages are shaded, the warm-up is marked.
 */
export function soakSvg(
  samples: ReadonlyArray<PlotSample>,
  outages: ReadonlyArray<{ fromS: number; toS: number }>,
  warmUpS: number,
  title: string,
  subtitle: string,
): string {
  const width = 860;
  const left = 70;
  const right = width - 20;
  const panelHeight = 190;
  const panelGap = 60;
  const top = 70;
  const endS = Math.max(1, ...samples.map((sample) => sample.tS), ...outages.map((outage) => outage.toS));
  const x = (tS: number): number => left + (tS / endS) * (right - left);
  const panels: Panel[] = [
    {
      title: 'Node-RED process memory (MB)',
      unit: 'MB',
      series: [
        { label: 'RSS', colour: '#b5522b', values: samples.map((sample) => sample.rssMb) },
        { label: 'heap used', colour: '#1f5f9e', values: samples.map((sample) => sample.heapUsedMb) },
      ],
    },
    {
      title: 'Outbox: journal on disk (KB) and records waiting',
      unit: '',
      series: [
        { label: 'journal KB', colour: '#1f7a4d', values: samples.map((sample) => sample.journalKb) },
        { label: 'records waiting', colour: '#7a4d9e', values: samples.map((sample) => sample.waiting) },
      ],
    },
  ];
  const parts: string[] = [];
  panels.forEach((panel, index) => {
    const panelTop = top + index * (panelHeight + panelGap);
    const panelBottom = panelTop + panelHeight;
    const max = Math.max(1, ...panel.series.flatMap((series) => series.values)) * 1.08;
    const step = tickStep(max, 5);
    const y = (value: number): number => panelBottom - (value / max) * panelHeight;
    parts.push(`<text x="${left}" y="${panelTop - 10}" class="panel">${escapeXml(panel.title)}</text>`);
    for (const outage of outages) {
      parts.push(
        `<rect x="${x(outage.fromS).toFixed(1)}" y="${panelTop}" width="${Math.max(1, x(outage.toS) - x(outage.fromS)).toFixed(1)}" height="${panelHeight}" class="outage"/>`,
      );
    }
    for (let value = 0; value <= max; value += step) {
      const gridY = y(value).toFixed(1);
      parts.push(`<line x1="${left}" x2="${right}" y1="${gridY}" y2="${gridY}" class="grid"/>`);
      parts.push(`<text x="${left - 6}" y="${(Number(gridY) + 4).toFixed(1)}" text-anchor="end" class="axis">${value.toLocaleString('en-US')}</text>`);
    }
    if (warmUpS > 0) {
      parts.push(`<line x1="${x(warmUpS).toFixed(1)}" x2="${x(warmUpS).toFixed(1)}" y1="${panelTop}" y2="${panelBottom}" class="warmup"/>`);
    }
    parts.push(`<rect x="${left}" y="${panelTop}" width="${right - left}" height="${panelHeight}" class="frame"/>`);
    panel.series.forEach((series, seriesIndex) => {
      const points = samples.map((sample, i) => `${x(sample.tS).toFixed(1)},${y(series.values[i]!).toFixed(1)}`).join(' ');
      parts.push(`<polyline points="${points}" fill="none" stroke="${series.colour}" stroke-width="1.5"/>`);
      const legendX = right - 250 + seriesIndex * 125;
      parts.push(`<line x1="${legendX}" x2="${legendX + 18}" y1="${panelTop - 14}" y2="${panelTop - 14}" stroke="${series.colour}" stroke-width="3"/>`);
      parts.push(`<text x="${legendX + 23}" y="${panelTop - 10}" class="legend">${escapeXml(series.label)}</text>`);
    });
  });
  const axisY = top + panels.length * (panelHeight + panelGap) - panelGap;
  const minutes = endS / 60;
  const minuteStep = tickStep(minutes, 10);
  for (let minute = 0; minute <= minutes + 1e-9; minute += minuteStep) {
    const tickX = x(minute * 60).toFixed(1);
    parts.push(`<line x1="${tickX}" x2="${tickX}" y1="${axisY}" y2="${axisY + 5}" class="tick"/>`);
    parts.push(`<text x="${tickX}" y="${axisY + 18}" text-anchor="middle" class="axis">${Number(minute.toFixed(2))}</text>`);
  }
  parts.push(`<text x="${(left + right) / 2}" y="${axisY + 36}" text-anchor="middle" class="axis">minutes since the start</text>`);
  const height = axisY + 66;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    '<style>.panel{font-weight:bold;fill:#222}.legend{fill:#222;font-size:12px}.axis{fill:#555;font-size:11px}.grid{stroke:#e4e4e4;stroke-width:1}' +
      '.frame{fill:none;stroke:#999;stroke-width:1}.tick{stroke:#999}.outage{fill:#f3d9d0}.warmup{stroke:#555;stroke-width:1.5;stroke-dasharray:4 3}.note{fill:#555;font-size:11px}</style>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="10" y="40" class="note">${escapeXml(subtitle)}</text>`,
    ...parts,
    `<text x="10" y="${height - 10}" class="note">Shaded: the CRM down (connections refused). Dashed line: end of the warm-up; slopes are fitted after it.</text>`,
    '</svg>',
    '',
  ].join('\n');
}
