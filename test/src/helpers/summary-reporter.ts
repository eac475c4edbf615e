/**
 * Mocha's spec output, then one closing line `N passed, N failed, N skipped` that CI counts.
 * With CKC_TEST_SUMMARY=<file> the counts are also written there as JSON, so .ci/run can add
 * other suites (Java) to them.
 */
import { writeFileSync } from 'node:fs';
import * as Mocha from 'mocha';

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const { passes, failures, pending } = runner.stats ?? { passes: 0, failures: 0, pending: 0 };
      const file = process.env['CKC_TEST_SUMMARY'];
      if (file)
        writeFileSync(file, JSON.stringify({ passed: passes, failed: failures, skipped: pending }));
      // Spec registered its epilogue first (in super()), so this line comes after it.
      process.stdout.write(`${passes} passed, ${failures} failed, ${pending} skipped\n`);
    });
  }
}

export = SummaryReporter;
