import type { Response } from 'express';

export interface EventStream {
  send(event: string, data: unknown): void;
  end(): void;
  /** Runs once, whoever ends the stream: us, the client, or the server shutting down. */
  onClose(fn: () => void): void;
  readonly closed: boolean;
}

/**
 * Turns the response into a Server-Sent Events stream with a comment every `heartbeatMs`,
 * which keeps proxies and load balancers from closing a quiet connection.
 */
export function openEventStream(res: Response, heartbeatMs: number): EventStream {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx buffers responses unless told not to.
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  let closed = false;
  const open = () => !closed && !res.writableEnded;
  const closers: (() => void)[] = [];
  const heartbeat = setInterval(() => open() && res.write(': heartbeat\n\n'), heartbeatMs);
  const onClose = () => {
    closed = true;
    clearInterval(heartbeat);
    for (const fn of closers.splice(0)) fn();
  };
  // The client may have gone while the caller was still preparing the stream.
  if (res.closed) onClose();
  else res.on('close', onClose);
  return {
    send(event, data) {
      if (open()) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    end: () => void res.end(),
    onClose(fn) {
      if (closed) fn();
      else closers.push(fn);
    },
    get closed() {
      return !open();
    },
  };
}
