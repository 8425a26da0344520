/** Named pass/fail assertions, printed as they are made; the run fails if any did. */
export class Checks {
  readonly results: { scenario: string; name: string; ok: boolean; detail: string }[] = [];
  constructor(private scenario: string) {}

  check(name: string, ok: boolean, detail = ''): boolean {
    this.results.push({ scenario: this.scenario, name, ok, detail });
    console.log(`  ${ok ? 'PASS' : 'FAIL'}  ${name}${detail ? `: ${detail}` : ''}`);
    return ok;
  }

  /** A scenario that could not run to its checks is a failure too, not a skip. */
  crashed(err: unknown) {
    this.check('scenario ran to completion', false, err instanceof Error ? err.message.split('\n')[0] : String(err));
  }
}
