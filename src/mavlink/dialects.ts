/** The MAVLink dialects mavgate knows (those node-mavlink ships), and what each includes. */

/** None of these reuses another's message ids. */
export const DIALECTS = [
  'minimal', 'standard', 'common', 'ardupilotmega', 'uavionix', 'icarous',
  'asluav', 'development', 'ualberta', 'storm32',
] as const;
export type DialectName = (typeof DIALECTS)[number];

/** What each dialect's XML includes, so that asking for `ardupilotmega` brings `common` too. */
const INCLUDES: Record<DialectName, readonly DialectName[]> = {
  minimal: [],
  standard: ['minimal'],
  common: ['standard'],
  ardupilotmega: ['common', 'uavionix', 'icarous'],
  uavionix: [],
  icarous: [],
  asluav: ['common'],
  development: ['common'],
  ualberta: ['common'],
  storm32: ['ardupilotmega'],
};

export class UnknownDialectError extends Error {
  constructor(readonly dialect: string) {
    super(`unknown MAVLink dialect "${dialect}"; known dialects: ${DIALECTS.join(', ')}`);
    this.name = 'UnknownDialectError';
  }
}

/** The dialects named plus everything they include, each once. */
export function expandDialects(dialects: readonly string[]): DialectName[] {
  const out = new Set<DialectName>();
  const visit = (d: string): void => {
    if (!(DIALECTS as readonly string[]).includes(d)) throw new UnknownDialectError(d);
    const name = d as DialectName;
    if (out.has(name)) return;
    out.add(name);
    INCLUDES[name].forEach(visit);
  };
  dialects.forEach(visit);
  return [...out];
}
