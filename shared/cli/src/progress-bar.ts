/**
 * A one-line transfer progress bar on a terminal: percentage, bytes and rate, redrawn at most ten
 * times a second. Only for terminals; callers decide by `isTTY` and size (ProgressBar.for).
 */
import { formatBytes, formatBytesPair } from './entry-format';

const REDRAW_MS = 100;
const BAR_WIDTH = 20;

/** Transfers below this size finish too fast for a bar to help. */
export const PROGRESS_MIN_BYTES = 8 * 1024 * 1024;

export interface ProgressTarget {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export class ProgressBar {
  private done = 0;
  private lastDraw = 0;
  private started = Date.now();

  private constructor(
    private readonly target: ProgressTarget,
    private readonly label: string,
    private total: number | undefined,
  ) {}

  /** A bar when `target` is a terminal and the transfer is large or of unknown size. */
  static for(
    target: ProgressTarget,
    label: string,
    total: number | undefined,
  ): ProgressBar | undefined {
    if (!target.isTTY) return undefined;
    if (total !== undefined && total < PROGRESS_MIN_BYTES) return undefined;
    return new ProgressBar(target, label, total);
  }

  setTotal(total: number): void {
    this.total = total;
  }

  add(bytes: number): void {
    this.done += bytes;
    const now = Date.now();
    if (now - this.lastDraw >= REDRAW_MS) {
      this.lastDraw = now;
      this.draw();
    }
  }

  /** Draws the final state and moves to the next line. */
  finish(): void {
    this.draw();
    this.target.write('\n');
  }

  /** Erases the bar and starts it over from 0 (the transfer is retried another way). */
  restart(): void {
    this.clear();
    this.done = 0;
    this.lastDraw = 0;
    this.started = Date.now();
  }

  /** Erases the bar (before an error message). */
  clear(): void {
    this.target.write('\r\x1b[K');
  }

  private draw(): void {
    const seconds = Math.max((Date.now() - this.started) / 1000, 0.001);
    const rate = `${formatBytes(this.done / seconds)}/s`;
    let line: string;
    if (this.total !== undefined && this.total > 0) {
      const fraction = Math.min(this.done / this.total, 1);
      const filled = Math.round(fraction * BAR_WIDTH);
      const bar = '#'.repeat(filled) + '-'.repeat(BAR_WIDTH - filled);
      const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
      const [done, total] = formatBytesPair(this.done, this.total);
      line = `${this.label} [${bar}] ${percent} ${done}/${total} ${rate}`;
    } else {
      line = `${this.label} ${formatBytes(this.done)} ${rate}`;
    }
    // A pseudo-terminal without a size reports 0 columns.
    const width = this.target.columns || 80;
    this.target.write(`\r${line.slice(0, Math.max(width - 1, 40))}\x1b[K`);
  }
}
