import * as path from 'node:path';
import { Page } from '@playwright/test';
import { ADMIN, ARTIFACTS, expect, hydrated, signIn, test } from './fixtures';
import { DASHBOARD, SERVER_USAGE, SERVERS, SPAWN_PROGRESS } from './ids';

async function notebookFiles(page: Page, user: string): Promise<string[]> {
  const response = await page.request.get(`/user/${user}/api/contents`);
  if (!response.ok()) return [];
  const listing = await response.json();
  return listing.content.map((item: { name: string }) => item.name);
}

async function startFromDashboard(page: Page) {
  await page.goto('/hub/home');
  await hydrated(page);
  await page.getByRole('radio', { name: /Base/ }).check();
  await page.getByLabel('Size').selectOption('small');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page).toHaveURL(/\/hub\/spawn-pending\/admin$/);
  await expect(page.getByTestId(SPAWN_PROGRESS)).toBeVisible();
  await expect(page.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '100', { timeout: 120_000 });
  await page.waitForURL(/\/user\/admin\/lab/, { timeout: 60_000 });
}

test('a person launches base/small, runs 1+1 in JupyterLab, stops and restarts, and the notebook is still there', async ({ page }) => {
  await signIn(page, ADMIN.name, ADMIN.password);
  await expect(page.getByTestId(DASHBOARD)).toBeVisible();
  await page.screenshot({ path: path.join(ARTIFACTS, 'launcher.png'), fullPage: true });

  await startFromDashboard(page);

  // JupyterLab, through the proxy: open a Python notebook and run a cell (this needs the websocket).
  const notebookCard = page.locator('.jp-LauncherCard[data-category="Notebook"]').first();
  await expect(notebookCard).toBeVisible({ timeout: 60_000 });
  await page.screenshot({ path: path.join(ARTIFACTS, 'jupyterlab.png') });
  await notebookCard.click();
  // Wait until the kernel is connected (over the proxied websocket) and idle.
  await expect(page.getByText('Python 3 (ipykernel) | Idle')).toBeVisible({ timeout: 60_000 });
  const editor = page.locator('.jp-Notebook .jp-Cell .cm-content').first();
  await expect(editor).toBeVisible({ timeout: 30_000 });
  await editor.click();
  await page.keyboard.type('1+1');
  await page.keyboard.press('Shift+Enter');
  await expect(page.locator('.jp-OutputArea-output').first()).toHaveText('2', { timeout: 60_000 });
  await page.screenshot({ path: path.join(ARTIFACTS, 'notebook.png') });

  // Save; a first save may ask to rename the file.
  await page.keyboard.press('Control+s');
  const rename = page.locator('.jp-Dialog').getByRole('button', { name: /Rename|Save/ });
  if (await rename.isVisible({ timeout: 3_000 }).catch(() => false)) await rename.click();
  await expect.poll(() => notebookFiles(page, 'admin'), { timeout: 30_000 }).toContain('Untitled.ipynb');

  // Stop it from the dashboard.
  await page.goto('/hub/home');
  await hydrated(page);
  const row = page.getByTestId(SERVERS).locator('tr[data-server="default"]');
  await expect(row).toContainText('running');
  // Live usage of the running server, from the engine.
  await expect(page.getByTestId(SERVER_USAGE).locator('li[data-server="default"]')).toContainText(/% CPU · .* of 2\.0 GiB/, { timeout: 20_000 });
  await row.getByRole('button', { name: 'Stop' }).click();
  await expect(row).toContainText('stopped', { timeout: 60_000 });
  const stopped = await page.request.get('/user/admin/lab');
  expect(stopped.status()).toBe(503);

  // Start it again: the notebook survived in the user's volume.
  await startFromDashboard(page);
  await expect.poll(() => notebookFiles(page, 'admin'), { timeout: 30_000 }).toContain('Untitled.ipynb');
  await expect(page.locator('.jp-DirListing-itemText', { hasText: 'Untitled.ipynb' })).toBeVisible({ timeout: 30_000 });
  await page.screenshot({ path: path.join(ARTIFACTS, 'restarted.png') });
});

test("a second user cannot open the first user's server", async ({ page }) => {
  await signIn(page, 'dora', 'dora-password-1');
  await expect(page.getByTestId(DASHBOARD)).toBeVisible();
  const response = await page.goto('/user/admin/lab');
  expect(response?.status()).toBe(403);
  await expect(page.getByText('This server belongs to someone else.')).toBeVisible();
  const api = await page.request.get('/user/admin/api/contents');
  expect(api.status()).toBe(403);
});
