const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "30m" → 1800000; undefined for anything that is not a positive whole number and a unit. */
export function durationMs(text: string): number | undefined {
  const match = /^\s*(\d+)\s*(ms|s|m|h|d)\s*$/.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]) * UNITS[match[2]];
  return value > 0 ? value : undefined;
}
