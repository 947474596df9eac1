// esbuild plugin for browser bundles: the engine's Node-only modules (node_gpu.ts: Dawn and node:fs;
// safetensors_node.ts, weights_files.ts: files) are replaced by modules that throw if reached. device.ts only imports node_gpu
// when navigator.gpu is absent, and nothing in a browser build opens files by path.
export const nodeOnlyStub = {
  name: 'node-only-stub',
  setup(b) {
    b.onResolve({ filter: /(node_gpu|safetensors_node|weights_files)\.js$/ }, (args) => ({ path: args.path, namespace: 'node-only' }));
    b.onLoad({ filter: /.*/, namespace: 'node-only' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`sam2-webgpu: ${args.path} is Node-only`)});`,
      loader: 'js',
    }));
  },
};

/** esbuild options of the engine's browser bundles (the package, the page, the peer benchmark's page). */
export const browserBundle = {
  plugins: [nodeOnlyStub],
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  external: ['webgpu', 'node:*'],
  logLevel: 'warning',
};
