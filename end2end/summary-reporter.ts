import type { Reporter, TestCase, TestResult } from '@playwright/test/reporter';

// Prints one plain closing line, `N passed, N failed`, that CI counts.
class SummaryReporter implements Reporter {
  private passed = 0;
  private failed = 0;
  private final = new Map<string, string>();

  onTestEnd(test: TestCase, result: TestResult) {
    this.final.set(test.id, result.status);
  }

  onEnd() {
    for (const status of this.final.values()) {
      if (status === 'passed') this.passed += 1;
      else this.failed += 1;
    }
    console.log(`${this.passed} passed, ${this.failed} failed`);
  }
}

export default SummaryReporter;
