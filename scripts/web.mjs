// The click-to-track web page: builds web/ into dist/web with esbuild and serves it on 127.0.0.1.
//
//   npm run web [-- --port 8080] [--host 127.0.0.1] [--no-build] [--build-only]
//
// The port also comes from $PORT (default 8080; 0 picks a free one). The server prints the page's URL.
import { copyFileSync, createReadStream, existsSync, mkdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Bundles the page (web/main.ts → dist/web/main.js) and copies its static files and the sample clip. */
export async function buildWeb(root = ROOT) {
  const { build } = await import('esbuild');
  const { embedWgsl } = await import('./embed-wgsl.mjs');
  embedWgsl(root);
  const out = join(root, 'dist/web');
  mkdirSync(out, { recursive: true });
  const { browserBundle } = await import('./node_only_stub.mjs');
  // No node: externals here: a Node module reaching the page fails the build.
  await build({ ...browserBundle, entryPoints: [join(root, 'web/main.ts')], outfile: join(out, 'main.js'), external: ['webgpu'], sourcemap: true });
  for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'web', f), join(out, f));
  copyFileSync(join(root, 'samples/bedroom.mp4'), join(out, 'bedroom.mp4'));
  return out;
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.safetensors': 'application/octet-stream',
};

/**
 * Serves `dir` (and, under /weights/, the project's weights/ folder, so converted .safetensors files there load
 * by URL). Resolves with the server once it listens; `url` is the page's address.
 */
export function serve(dir, { port = 8080, host = '127.0.0.1', root = ROOT } = {}) {
  const mounts = [
    ['/weights/', join(root, 'weights')],
    ['/', dir],
  ];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const [prefix, base] = mounts.find(([p]) => path.startsWith(p));
    let file = normalize(join(base, path.slice(prefix.length)));
    if (file !== resolve(base) && !file.startsWith(resolve(base) + sep)) {
      res.writeHead(403).end('forbidden');
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file) || (prefix === '/weights/' && extname(file) !== '.safetensors')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
      return;
    }
    const size = statSync(file).size;
    const headers = {
      'content-type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'cache-control': 'no-cache',
      'accept-ranges': 'bytes',
    };
    // Range requests (video seeking).
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    if (range && (range[1] || range[2])) {
      const start = range[1] ? Number(range[1]) : Math.max(0, size - Number(range[2]));
      const end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start > end || start >= size) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, { ...headers, 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}` });
      if (req.method === 'HEAD') res.end();
      else createReadStream(file, { start, end }).pipe(res);
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': size });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const a = server.address();
      server.url = `http://${host}:${a.port}/`;
      resolvePromise(server);
    });
  });
}

function arg(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const dir = process.argv.includes('--no-build') ? join(ROOT, 'dist/web') : await buildWeb();
  if (!process.argv.includes('--build-only')) {
    const port = Number(arg('--port') ?? process.env.PORT ?? 8080);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      console.error(`web: bad port ${arg('--port') ?? process.env.PORT}`);
      process.exit(2);
    }
    try {
      const server = await serve(dir, { port, host: arg('--host') ?? '127.0.0.1' });
      console.log(`sam2-webgpu page: ${server.url}`);
    } catch (e) {
      console.error(`web: cannot listen on port ${port}: ${e.message}${e.code === 'EADDRINUSE' ? ' (in use: pick another with --port N)' : ''}`);
      process.exit(1);
    }
  }
}
