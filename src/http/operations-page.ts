import type { HttpServer } from '../kernel/http/index.ts';

export interface OperationsPageOptions {
  version: string;
  /** `embedded` or `distributed`. */
  mode: string;
  namespace: string;
  roles: readonly string[];
  /** Where the data lives (embedded mode), shown to the operator. */
  dataDir: string;
  /** Consumer groups running in this process, and whether each is running now. */
  consumers: () => readonly { group: string; running: boolean }[];
  startedAt: Date;
}

/** GET /: a small operations page (what runs here, where to look). The dashboard replaces it later. */
export function registerOperationsPage(app: HttpServer, options: OperationsPageOptions): void {
  app.get('/', { schema: { hide: true } }, async (_request, reply) => {
    const consumers = options.consumers();
    const rows = consumers
      .map((c) => `<tr><td>${escapeHtml(c.group)}</td><td>${c.running ? 'running' : 'stopped'}</td></tr>`)
      .join('');
    const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Orderflow — operations</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 46rem; padding: 0 1rem; color: #1d2433; }
h1 { font-size: 1.5rem; margin-bottom: 0.25rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; } td, th { padding: 0.2rem 1rem 0.2rem 0; text-align: left; }
code { background: #f1f3f7; padding: 0 0.25rem; border-radius: 3px; } .muted { color: #5b6475; }
</style>
</head>
<body>
<h1>Orderflow</h1>
<p class="muted">Order-processing backbone of the marketplace · version ${escapeHtml(options.version)}</p>
<h2>This process</h2>
<table>
<tr><th>mode</th><td>${escapeHtml(options.mode)}</td></tr>
<tr><th>roles</th><td>${escapeHtml(options.roles.join(', '))}</td></tr>
<tr><th>namespace</th><td><code>${escapeHtml(options.namespace)}</code></td></tr>
<tr><th>data</th><td><code>${escapeHtml(options.dataDir)}</code></td></tr>
<tr><th>started</th><td>${escapeHtml(options.startedAt.toISOString())}</td></tr>
</table>
<h2>Consumers</h2>
${consumers.length === 0 ? '<p class="muted">none in this process</p>' : `<table><tr><th>group</th><th>state</th></tr>${rows}</table>`}
<h2>Links</h2>
<ul>
<li><a href="/v1/catalog">/v1/catalog</a> — the products on sale</li>
<li><a href="/openapi.json">/openapi.json</a> — the API (OpenAPI 3.1)</li>
<li><a href="/metrics">/metrics</a> — Prometheus metrics</li>
<li><a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a> — liveness and readiness</li>
<li><code>GET /v1/admin/dead-letters</code> — dead letters (needs <code>Authorization: Bearer &lt;admin key&gt;</code>)</li>
</ul>
</body>
</html>`;
    return reply.type('text/html; charset=utf-8').send(html);
  });
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
