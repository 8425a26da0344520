import { burstMeter } from '../runtime/eventLoop';

describe('burstMeter', () => {
  let clock = 0;
  const advance = (ms: number) => void (clock += ms);
  const meterOf = (threshold: number, windowMs: number) => burstMeter(threshold, windowMs, () => clock);

  it('is on from the arrival that reaches the threshold, through the next window, and off after', () => {
    const meter = meterOf(3, 100);
    meter.arrived();
    meter.arrived();
    expect(meter.bursting()).toBe(false);
    meter.arrived();
    expect(meter.bursting()).toBe(true);
    // The next window remembers the last one's burst ...
    advance(100);
    expect(meter.bursting()).toBe(true);
    // ... and the one after that, with no arrivals, does not.
    advance(100);
    expect(meter.bursting()).toBe(false);
  });

  it('forgets a burst after a quiet spell longer than a window', () => {
    const meter = meterOf(2, 100);
    meter.arrived();
    meter.arrived();
    advance(250);
    meter.arrived();
    expect(meter.bursting()).toBe(false);
  });

  it('a steady trickle below the threshold never counts as a burst', () => {
    const meter = meterOf(5, 100);
    for (let i = 0; i < 50; i++) {
      meter.arrived();
      advance(30);
      expect(meter.bursting()).toBe(false);
    }
  });
});
