/**
 * A horizontal bar chart as hand-written SVG (no chart library): one bar per figure, grouped by
 * section, coloured by kind (limit, peer, grpc-js constant, agent), each labelled with its value
 * and its first ratio.
 * Owns: layout and colours. Never: numbers of its own (it draws what it is given).
 */
import type { MetricKind } from './bench-results';

export interface Bar {
  section: string;
  label: string;
  value: number;
  kind: MetricKind;
  /** e.g. "0.52 × raw TCP" */
  annotation?: string;
}

const COLOURS: Record<MetricKind, string> = {
  limit: '#9e9e9e',
  peer: '#4e79a7',
  framework: '#b07aa1',
  agent: '#f28e2b',
};
const LEGEND: Record<MetricKind, string> = {
  limit: 'limit',
  peer: 'peer / remote',
  framework: 'grpc-js constant server',
  agent: 'checkpoint-cache agent',
};

const WIDTH = 1000;
const LABEL_WIDTH = 430;
const BAR_AREA = 330;
const ROW = 20;
const FAMILY = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';
const FONT = `${FAMILY} font-size="12"`;

export function renderBarChart(title: string, unit: string, bars: readonly Bar[]): string {
  const max = Math.max(...bars.map((b) => b.value), 1);
  const body: string[] = [];
  let y = 56;
  let section = '';
  for (const bar of bars) {
    if (bar.section !== section) {
      section = bar.section;
      y += 8;
      body.push(`<text x="10" y="${y + 13}" ${FONT} font-weight="bold">${esc(section)}</text>`);
      y += ROW;
    }
    const w = Math.max(1, Math.round((bar.value / max) * BAR_AREA));
    const x = LABEL_WIDTH + 10;
    body.push(
      `<text x="${LABEL_WIDTH}" y="${y + 13}" ${FONT} text-anchor="end">${esc(clip(bar.label))}</text>`,
      `<rect x="${x}" y="${y + 2}" width="${w}" height="${ROW - 5}" fill="${COLOURS[bar.kind]}"/>`,
      `<text x="${x + w + 6}" y="${y + 13}" ${FONT}>${esc(
        `${Math.round(bar.value).toLocaleString('en-US')} ${unit}` +
          (bar.annotation ? ` · ${bar.annotation}` : ''),
      )}</text>`,
    );
    y += ROW;
  }
  const legend = (Object.keys(COLOURS) as MetricKind[])
    .filter((k) => bars.some((b) => b.kind === k))
    .map((k, i) => {
      const x = 10 + i * 230;
      return (
        `<rect x="${x}" y="32" width="12" height="12" fill="${COLOURS[k]}"/>` +
        `<text x="${x + 18}" y="42" ${FONT}>${esc(LEGEND[k])}</text>`
      );
    });
  const height = y + 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="20" ${FAMILY} font-size="14" font-weight="bold">${esc(title)}</text>`,
    ...legend,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/** Labels longer than the label column can show end in an ellipsis. */
function clip(label: string, max = 64): string {
  return label.length <= max ? label : `${label.slice(0, max - 1)}…`;
}

function esc(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}
