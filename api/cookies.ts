import type { Request } from 'express';

/** Methods that change nothing: the only ones a cookie alone may authenticate. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

/** A cookie's raw value; ours are base64url (and dots), which a cookie carries unencoded: nothing to decode. */
export function readCookie(req: Request, name: string): string | undefined {
  for (const pair of (req.get('cookie') ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at > 0 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim();
  }
  return undefined;
}
