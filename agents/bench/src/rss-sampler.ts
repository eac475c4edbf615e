/**
 * Resident memory of another process from /proc/<pid>/status: the kernel's own high-water mark
 * (VmHWM, reset through /proc/<pid>/clear_refs so that start-up and seeding do not count) and
 * VmRSS sampled on a timer as a cross-check where the reset is not allowed.
 * Owns: the sampling timer. Never: anything but reading /proc (and the one reset write).
 */
import { promises as fs } from 'node:fs';

export interface RssReading {
  /** Largest VmRSS seen by sampling, bytes. */
  sampledPeak: number;
  /** Smallest VmRSS seen by sampling, bytes (what the process holds once garbage is collected). */
  sampledLow: number;
  /** VmHWM at the end, bytes; since the reset when `peakReset`, else since the process began. */
  kernelPeak: number;
  peakReset: boolean;
  samples: number;
}

export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private sampledPeak = 0;
  private sampledLow = Infinity;
  private samples = 0;
  private peakReset = false;

  constructor(private readonly pid: number) {}

  /** VmRSS now, bytes. */
  async current(): Promise<number> {
    return (await this.status()).rss;
  }

  /** Resets VmHWM to the current RSS, then samples VmRSS every `intervalMs`. */
  async start(intervalMs = 50): Promise<void> {
    try {
      // "5" resets the peak RSS (Linux >= 4.0); needs the same user or root.
      await fs.writeFile(`/proc/${this.pid}/clear_refs`, '5');
      this.peakReset = true;
    } catch {
      this.peakReset = false;
    }
    const sample = async (): Promise<void> => {
      try {
        const { rss } = await this.status();
        this.sampledPeak = Math.max(this.sampledPeak, rss);
        this.sampledLow = Math.min(this.sampledLow, rss);
        this.samples++;
      } catch {
        // the process is gone; stop() reports what was seen
      }
    };
    await sample();
    this.timer = setInterval(() => void sample(), intervalMs);
  }

  async stop(): Promise<RssReading> {
    clearInterval(this.timer);
    const { rss, hwm } = await this.status();
    this.sampledPeak = Math.max(this.sampledPeak, rss);
    this.sampledLow = Math.min(this.sampledLow, rss);
    return {
      sampledPeak: this.sampledPeak,
      sampledLow: this.sampledLow,
      kernelPeak: hwm,
      peakReset: this.peakReset,
      samples: this.samples,
    };
  }

  private async status(): Promise<{ rss: number; hwm: number }> {
    const text = await fs.readFile(`/proc/${this.pid}/status`, 'utf8');
    const kib = (field: string): number => {
      const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
      return match ? Number(match[1]) * 1024 : 0;
    };
    return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
  }
}
