/**
 * `workshop book`: the lessons rendered as a small website on localhost, with the chapter
 * list from the manifest. Runnable blocks are marked, so a reader knows which commands the
 * suite proves.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import MarkdownIt from 'markdown-it';
import { CHAPTERS, isAvailable } from '../manifest.ts';
import { CHAPTERS_DIR, REPO_ROOT } from '../paths.ts';

const markdown = new MarkdownIt({ html: false, linkify: true, typographer: false });
const defaultFence = markdown.renderer.rules.fence!;
markdown.renderer.rules.fence = (tokens, idx, options, env, self) => {
  const info = tokens[idx].info.trim();
  const html = defaultFence(tokens, idx, options, env, self);
  if (/\brunnable\b/.test(info)) return `<div class="runnable" title="run by the test suite">${html}</div>`;
  if (/^text\s+output\b/.test(info)) return `<div class="output">${html}</div>`;
  return html;
};

const STYLE = `body{font:16px/1.6 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}
nav a{margin-right:.8rem}pre{background:#f4f4f4;padding:.8rem;overflow-x:auto}code{font-size:.92em}
.runnable pre{border-left:4px solid #2a7}.runnable::before{content:"runnable · checked by the suite";font-size:.75em;color:#2a7}
.output pre{border-left:4px solid #888;background:#fafafa}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem}
li.coming{color:#999}`;

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title><style>${STYLE}</style></head><body><nav><a href="/">Contents</a></nav>${body}</body></html>`;
}

function contents(): string {
  const items = CHAPTERS.map((c) =>
    isAvailable(c)
      ? `<li><a href="/${c.folder}/">${c.number} — ${c.title}</a>: ${c.builds}</li>`
      : `<li class="coming">${c.number} — ${c.title} (coming)</li>`,
  ).join('');
  const readme = markdown.render(fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8'));
  return page('conman workshop', `<h1>The book</h1><ol start="0">${items}</ol><hr>${readme}`);
}

/** Render chapters/<folder>/README.md; null when there is no such chapter. */
export function renderChapter(folder: string): string | null {
  const chapter = CHAPTERS.find((c) => c.folder === folder);
  const file = path.join(CHAPTERS_DIR, folder, 'README.md');
  if (!chapter || !fs.existsSync(file)) return null;
  return page(chapter.title, markdown.render(fs.readFileSync(file, 'utf8')));
}

/** Serve on `host` (127.0.0.1 by default; 0.0.0.0 inside the VM so the host's browser reaches it). */
export function startBook(port: number, host = '127.0.0.1'): Promise<http.Server> {
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const folder = url.pathname.split('/').filter(Boolean)[0];
    const html = folder ? renderChapter(folder) : contents();
    response.writeHead(html ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    response.end(html ?? page('Not found', `<p>No chapter ${folder}. <a href="/">Contents</a></p>`));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
