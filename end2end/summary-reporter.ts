import type { FullResult, Reporter, TestCase, TestResult } from '@playwright/test/reporter';

// Prints every test that needed a retry, then one plain closing line, `N passed, N failed`, that
// CI counts. A test that passed only on its third try (it failed twice in a row) counts as failed
// and fails the run: a retry may hide a rare flake, never a test that keeps failing.
class SummaryReporter implements Reporter {
  private final = new Map<string, { title: string; status: TestResult['status']; retry: number }>();

  onTestEnd(test: TestCase, result: TestResult) {
    this.final.set(test.id, { title: test.titlePath().filter(Boolean).join(' › '), status: result.status, retry: result.retry });
  }

  onEnd(result: FullResult): { status?: FullResult['status'] } | undefined {
    let passed = 0;
    let failed = 0;
    const twice: string[] = [];
    for (const { title, status, retry } of this.final.values()) {
      if (status === 'passed' && retry > 0) {
        console.log(`retried: ${title} (passed on try ${retry + 1})`);
      }
      if (status === 'passed' && retry < 2) passed += 1;
      else {
        failed += 1;
        if (status === 'passed') twice.push(title);
      }
    }
    for (const title of twice) console.log(`failed twice in a row before passing (counted as failed): ${title}`);
    console.log(`${passed} passed, ${failed} failed`);
    if (twice.length > 0 && result.status === 'passed') return { status: 'failed' };
    return undefined;
  }
}

export default SummaryReporter;
