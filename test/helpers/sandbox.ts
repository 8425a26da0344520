import type { RunningSystem } from '../../runtime/system';

export interface SandboxAccess {
  /** The sandbox URL as the start printed it, key included. */
  url: string;
  key: string;
  /** /sandbox/api/<path> with the key header; `headers` replaces it (pass {} to call without the key). */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
}

/** A running system's sandbox, reached the only way there is: through the URL its start printed. */
export function sandboxOf(system: Pick<RunningSystem, 'extraUrls'>, base?: string): SandboxAccess {
  const printed = system.extraUrls.find((u) => u.label === 'Sandbox');
  if (!printed) throw new Error('the system is not in sandbox mode');
  const url = new URL(printed.url);
  const key = url.searchParams.get('key') ?? '';
  const origin = base ?? url.origin;
  return {
    url: printed.url,
    key,
    call: (method, path, body, headers = { 'X-Sandbox-Key': key }) =>
      fetch(`${origin}/sandbox/api/${path}`, {
        method,
        headers: { ...headers, ...(body !== undefined && { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
  };
}
