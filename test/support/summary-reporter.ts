/**
 * Prints the closing line CI reads: `N passed, N failed, N skipped`, after listing every
 * skipped test with its reason (a skip must say why). A failed hook (beforeAll) or a file
 * that fails to load counts as a failure even though vitest then marks its tests skipped,
 * so a broken set-up can never read as green.
 */
import type { Reporter, TestModule, TestSuite } from 'vitest/node';

function failedTestsIn(node: TestModule | TestSuite): number {
  let n = 0;
  for (const test of node.children.allTests()) if (test.result().state === 'failed') n++;
  return n;
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const lines: string[] = [];
    for (const mod of modules) {
      for (const test of mod.children.allTests()) {
        const result = test.result();
        if (result.state === 'passed') passed++;
        else if (result.state === 'failed') failed++;
        else {
          skipped++;
          const why = result.state === 'skipped' ? result.note : undefined;
          lines.push(`  skipped: ${test.fullName} — ${why ?? test.options.mode}`);
        }
      }
      // Errors outside any test: a failing beforeAll/afterAll, or a file that does not load.
      const broken: Array<{ name: string; errors: readonly { message?: string }[] }> = [];
      if (mod.errors().length > 0 && failedTestsIn(mod) === 0) broken.push({ name: mod.moduleId, errors: mod.errors() });
      for (const suite of mod.children.allSuites()) {
        if (suite.errors().length > 0 && failedTestsIn(suite) === 0) broken.push({ name: suite.fullName, errors: suite.errors() });
      }
      for (const b of broken) {
        failed++;
        lines.push(`  failed outside a test: ${b.name} — ${b.errors.map((e) => e.message ?? 'error').join('; ')}`);
      }
    }
    if (lines.length) process.stdout.write(`\n${lines.join('\n')}\n`);
    process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
}
