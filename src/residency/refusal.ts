/** The refusal every residency decision throws: exit code 3, naming the entry, the destination and the rule. */
export const EXIT_RESIDENCY = 3;

export class ResidencyRefusal extends Error {
  readonly exitCode = EXIT_RESIDENCY;
  constructor(readonly entry: string, readonly destination: string, readonly rule: string, readonly reason: string) {
    super(`residency policy refuses ${entry}: ${destination}: ${reason} (rule: ${rule})`);
    this.name = 'ResidencyRefusal';
  }
}
