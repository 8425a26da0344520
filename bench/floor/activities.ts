import { request } from 'undici';

export async function postToSink(url: string, id: string): Promise<void> {
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id }) });
  await res.body.dump();
}
