// The dashboard's build: one page, its scripts and styles under /static/ (the route halbert-web
// serves them on), nothing inline so that the strict CSP (script-src 'self') holds.
import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

export default defineConfig({
  plugins: [preact()],
  base: "/",
  build: {
    outDir: "dist",
    assetsDir: "static",
    emptyOutDir: true,
    // No inline module-preload polyfill: every script comes from a file.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
