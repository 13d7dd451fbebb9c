// The dev server proxies /graphql (HTTP and websockets) to the Guildhall server, so the
// page and the API share an origin: no CORS setting needed. GUILDHALL_URL says where the
// server is (default http://127.0.0.1:8080).
import { defineConfig } from "vite";

const target = process.env.GUILDHALL_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  // Bundled at startup, so the first page load never waits for (or reloads after) it.
  optimizeDeps: { include: ["@urql/core", "graphql-ws", "chart.js"] },
  server: {
    host: "127.0.0.1",
    proxy: {
      "/graphql": { target, ws: true, changeOrigin: false },
    },
  },
  preview: {
    host: "127.0.0.1",
    proxy: {
      "/graphql": { target, ws: true, changeOrigin: false },
    },
  },
});
