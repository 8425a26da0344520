import { IllegalStateError } from '@temporalio/common';
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import type { Logger } from '../observability/logger';

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * Once per process, before any Temporal connection: the SDK logs through our logger
 * (workflow `log` calls included), and it does not react to SIGINT/SIGTERM by itself —
 * the process's own shutdown drains the worker in order, before the connections close.
 * With `metricsBind` (TEMPORAL_METRICS_BIND) the SDK's core serves its worker metrics at
 * http://<metricsBind>/metrics, named the Prometheus way: counters end in `_total`,
 * durations are `_seconds` histograms.
 */
export function installTemporalRuntime(logger: Logger, opts: { metricsBind?: string } = {}): void {
  const sdk = logger.child({ component: 'temporal' });
  // Worker chatter (bundle sizes, state changes) is debug material; warnings and errors matter.
  const level: LogLevel = sdk.isLevelEnabled('debug') ? 'DEBUG' : 'WARN';
  try {
    Runtime.install({
      logger: new DefaultLogger(level, (entry) => sdk[PINO_LEVEL[entry.level]](entry.meta ?? {}, entry.message)),
      shutdownSignals: [],
      ...(opts.metricsBind && {
        telemetryOptions: {
          metrics: {
            prometheus: { bindAddress: opts.metricsBind, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true },
          },
        },
      }),
    });
  } catch (err) {
    // A host that installed its own Runtime first (the test helpers do) keeps it.
    if (!(err instanceof IllegalStateError)) throw err;
  }
}
