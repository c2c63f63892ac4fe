/**
 * `vite build web` writes web/dist, which the server serves at `/`.
 * `npx vite web` serves the app for development on :5173 and passes /v1 (REST
 * and the WebSocket) on to a server on :8080 (`npm start`).
 */
import { defineConfig } from 'vite';

export default defineConfig({
  build: { outDir: 'dist', emptyOutDir: true },
  server: {
    proxy: { '/v1': { target: 'http://127.0.0.1:8080', ws: true } },
  },
});
