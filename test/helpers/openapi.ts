import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import supertest from 'supertest';
import { buildOpenApiDocument } from '../../api/openapi/document';

/**
 * Checks answers against the OpenAPI document: the status is one the operation lists (or its
 * `default`), the content type is one it lists, and a JSON body validates against its schema.
 * A path the document does not have may only answer an error in the one shape.
 */

export const openApiDocument = buildOpenApiDocument();

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
// The whole document under one key, so `#/components/schemas/...` refs resolve from any schema in it.
ajv.addSchema(openApiDocument, 'openapi');

const pointer = (...segments: string[]) => segments.map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

type Operation = { responses?: Record<string, { content?: Record<string, unknown> }> };

const templates = Object.keys(openApiDocument.paths ?? {}).map((template) => ({
  template,
  params: (template.match(/\{/g) ?? []).length,
  regex: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
}));

/**
 * The document's path for a request path: a literal path wins over a templated one. A
 * trailing slash is ignored, as express's routing does (`/console/` is `GET /console`).
 */
export function pathTemplateOf(path: string): string | undefined {
  const bare = path.split('?')[0].replace(/(.)\/$/, '$1');
  const matches = templates.filter((t) => t.regex.test(bare)).sort((a, b) => a.params - b.params);
  return matches[0]?.template;
}

function validate(schemaPointer: string, body: unknown, where: string): void {
  const validator = ajv.getSchema(`openapi#/${schemaPointer}`);
  if (!validator) throw new Error(`no schema at ${schemaPointer}`);
  if (!validator(body)) {
    const problems = (validator.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message} ${JSON.stringify(e.params)}`);
    throw new Error(`${where}: the body does not match the OpenAPI document:\n${problems.join('\n')}\n${JSON.stringify(body, null, 2)}`);
  }
}

export function expectMatchesOpenApi(res: Answer, method: string, path: string): void {
  const where = `${method.toUpperCase()} ${path} → ${res.status}`;
  const template = pathTemplateOf(path);
  const operation = template
    ? ((openApiDocument.paths?.[template] as Record<string, Operation> | undefined)?.[method.toLowerCase()] as Operation | undefined)
    : undefined;
  if (!template || !operation) {
    // No such operation: the app's 404 (or the auth check before it) in the one error shape.
    if (res.status < 400) throw new Error(`${where}: not in the OpenAPI document`);
    validate(pointer('components', 'schemas', 'Error'), res.body, where);
    return;
  }
  const status = String(res.status);
  const key = operation.responses?.[status] ? status : 'default';
  const response = operation.responses?.[key];
  if (!response || (key === 'default' && res.status < 400)) throw new Error(`${where}: the document lists no such status`);
  // A redirect's body is express's courtesy text; its Location is what counts.
  if (res.status >= 300 && res.status < 400) return;
  const contentType = String(res.headers['content-type'] ?? '').split(';')[0].trim();
  if (!response.content) {
    if (contentType) throw new Error(`${where}: the document lists no body, but one came as ${contentType}`);
    return;
  }
  if (!(contentType in response.content)) {
    throw new Error(`${where}: content type ${contentType || '(none)'} is not one of ${Object.keys(response.content).join(', ')}`);
  }
  if (contentType === 'application/json') {
    validate(pointer('paths', template, method.toLowerCase(), 'responses', key, 'content', contentType, 'schema'), res.body, where);
  }
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/**
 * supertest's request(app), whose every answer is also checked with expectMatchesOpenApi.
 * OPTIONS (CORS preflights) and HEAD are answered by middleware, not operations, and stay unchecked.
 */
export function request(app: Parameters<typeof supertest>[0]) {
  const agent = supertest(app);
  for (const method of METHODS) {
    const send = agent[method].bind(agent);
    agent[method] = (url: string) => send(url).expect((res) => expectMatchesOpenApi(res, method, url));
  }
  return agent;
}
