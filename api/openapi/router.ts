import path from 'node:path';
import express, { Router } from 'express';
import { buildOpenApiDocument } from './document';

/**
 * GET /openapi.json and GET /docs, the Swagger UI reference, served from node_modules: the
 * page loads nothing from elsewhere, and its own script is a file, not inline, so it runs
 * under a CSP that allows only this origin's scripts (which the page sends itself).
 */
const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>wa-booking API reference</title>
<link rel="icon" href="docs/favicon-32x32.png">
<link rel="stylesheet" href="docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body></html>`;

const SWAGGER_UI_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));

// Relative, so the page works behind a proxy that mounts the API under a path.
const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: 'openapi.json', dom_id: '#swagger-ui', deepLinking: true });`;

// Swagger UI's icons are data: URLs; everything else is this origin's files.
const DOCS_CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

export function apiReferenceRouter(): Router {
  const router = Router();
  // Built once: it depends on nothing but the code.
  const document = JSON.stringify(buildOpenApiDocument());

  router.get('/openapi.json', (_req, res) => {
    res.type('json').send(document);
  });
  router.get('/docs', (_req, res) => {
    res.set('Content-Security-Policy', DOCS_CSP).type('html').send(DOCS_PAGE);
  });
  // The page's scripts and styles: assets of GET /docs rather than operations of the API.
  router.use('/docs', (req, res, next) => {
    if (req.method === 'GET' && req.path === '/init.js') res.type('js').send(DOCS_INIT);
    else next();
  });
  router.use('/docs', express.static(SWAGGER_UI_DIR, { index: false }));
  return router;
}
