import { defineConfig } from '@playwright/test';

// Two hubs, each started fresh for the run by start-hub.sh on its own port and data directory:
// the Docker hub every spec uses by default, and a local-process hub (spawner.kind = "local")
// for local.spec.ts (its port is exported as E2E_LOCAL_PORT for the spec).
const port = process.env.E2E_PORT ?? '8765';
// The test identity provider; its fixture registers the hub's callback on port 8765.
const oidcPort = process.env.E2E_OIDC_PORT ?? '8766';
const localPort = (process.env.E2E_LOCAL_PORT ??= '8767');

export default defineConfig({
  testDir: './tests',
  globalTeardown: './global-teardown.ts',
  timeout: 240_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  // scripts/test.sh (CI) allows two retries; the summary reporter names every retried test and
  // fails the run on one that failed twice in a row.
  retries: Number(process.env.E2E_RETRIES ?? (process.env.CI ? 2 : 0)),
  reporter: [['list'], ['./summary-reporter.ts']],
  outputDir: 'test-results',
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'on-first-retry',
    screenshot: 'only-on-failure',
    launchOptions: {
      // Debian's Chromium; Playwright's own browser download is not possible here.
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
  },
  webServer: [
    {
      // The OpenID Connect provider (a real one: npm oidc-provider behind oidc/server.mjs).
      command: `node ./oidc/server.mjs --config ./oidc/fixture.json --port ${oidcPort}`,
      url: `http://127.0.0.1:${oidcPort}/.well-known/openid-configuration`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: 'pipe',
      stderr: 'pipe',
    },
    {
      command: `bash ./start-hub.sh ${port} ${oidcPort}`,
      url: `http://127.0.0.1:${port}/hub/health`,
      reuseExistingServer: false,
      timeout: 120_000,
      stdout: 'pipe',
      stderr: 'pipe',
    },
    {
      command: `bash ./start-hub.sh ${localPort} ${oidcPort} local`,
      url: `http://127.0.0.1:${localPort}/hub/health`,
      reuseExistingServer: false,
      timeout: 120_000,
      stdout: 'pipe',
      stderr: 'pipe',
    },
  ],
});
