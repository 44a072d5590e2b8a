import * as path from 'node:path';
import { ADMIN, ARTIFACTS, expect, hydrated, signIn, test } from './fixtures';
import { DASHBOARD, SERVERS, SPAWN_PROGRESS } from './ids';

// The hub started by start-hub.sh in its "local" mode: spawner.kind = "local", JupyterLab from
// .tools/jupyter-venv run as a local process group (see playwright.config.ts).
test.use({ baseURL: `http://127.0.0.1:${process.env.E2E_LOCAL_PORT ?? '8767'}` });

test('with the local spawner a person launches Base, runs a cell in JupyterLab, and stops it from the dashboard', async ({ page }) => {
  await signIn(page, ADMIN.name, ADMIN.password);
  await expect(page.getByTestId(DASHBOARD)).toBeVisible();

  await page.getByRole('radio', { name: /Base/ }).check();
  await page.getByLabel('Size').selectOption('small');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page).toHaveURL(/\/hub\/spawn-pending\/admin$/);
  await expect(page.getByTestId(SPAWN_PROGRESS)).toBeVisible();
  await expect(page.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '100', { timeout: 120_000 });
  await page.waitForURL(/\/user\/admin\/lab/, { timeout: 60_000 });

  // JupyterLab through the proxy, its kernel over the proxied websocket.
  const notebookCard = page.locator('.jp-LauncherCard[data-category="Notebook"]').first();
  await expect(notebookCard).toBeVisible({ timeout: 60_000 });
  await notebookCard.click();
  await expect(page.getByText('Python 3 (ipykernel) | Idle')).toBeVisible({ timeout: 60_000 });
  const editor = page.locator('.jp-Notebook .jp-Cell .cm-content').first();
  await expect(editor).toBeVisible({ timeout: 30_000 });
  await editor.click();
  await page.keyboard.type("import sys; print('local says', 6 * 7, sys.prefix.endswith('jupyter-venv'))");
  await page.keyboard.press('Shift+Enter');
  await expect(page.locator('.jp-OutputArea-output').first()).toHaveText('local says 42 True', { timeout: 60_000 });
  await page.screenshot({ path: path.join(ARTIFACTS, 'local-notebook.png') });

  // Stop it from the dashboard: the row says stopped and the proxy no longer reaches it.
  await page.goto('/hub/home');
  await hydrated(page);
  const row = page.getByTestId(SERVERS).locator('tr[data-server="default"]');
  await expect(row).toContainText('running');
  await row.getByRole('button', { name: 'Stop' }).click();
  await expect(row).toContainText('stopped', { timeout: 60_000 });
  const stopped = await page.request.get('/user/admin/lab');
  expect(stopped.status()).toBe(503);
});
