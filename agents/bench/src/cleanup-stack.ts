/**
 * Everything a bench run must undo (child processes, nginx, the network namespace, temp dirs),
 * undone in reverse order exactly once, whether the run ends normally, fails, or is interrupted.
 * Owns: the undo list. Never: throwing from `run()` (a failed step is reported and the rest run).
 */

interface Step {
  name: string;
  undo: () => Promise<void> | void;
}

/** Longest a single undo step may take before the next one runs anyway. */
const STEP_TIMEOUT_MS = 15_000;

export class CleanupStack {
  private readonly steps: Step[] = [];
  private running: Promise<void> | undefined;

  /** Registers `undo`; returns a function that runs it now (once) and forgets it. */
  push(name: string, undo: () => Promise<void> | void): () => Promise<void> {
    const step: Step = { name, undo };
    this.steps.push(step);
    return async () => {
      const index = this.steps.indexOf(step);
      if (index < 0) return;
      this.steps.splice(index, 1);
      await runStep(step);
    };
  }

  /** Runs every registered step, last first. Idempotent; never rejects. */
  run(): Promise<void> {
    this.running ??= (async () => {
      for (let step = this.steps.pop(); step; step = this.steps.pop()) await runStep(step);
    })();
    return this.running;
  }
}

async function runStep(step: Step): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(step.undo),
      new Promise<void>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`did not finish within ${STEP_TIMEOUT_MS} ms`)),
          STEP_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (err) {
    process.stderr.write(
      `ckc-bench: cleanup "${step.name}" failed: ${err instanceof Error ? err.message : String(err)}\n`,
    );
  } finally {
    clearTimeout(timer);
  }
}
