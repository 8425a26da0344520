import type http from 'node:http';

/**
 * A fake server's request body as text, refused with `tooLarge()` (its own API's error for
 * it) beyond `maxBytes`: a fake must not let a runaway test fill the memory.
 */
export function readRequestBody(req: http.IncomingMessage, maxBytes: number, tooLarge: () => unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        reject(tooLarge());
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
