import { Browser, Page } from '@playwright/test';
import { ADMIN, expect, hydrated, signIn, test } from './fixtures';
import {
  ADMIN_GPU_QUEUE, ADMIN_GPUS, ADMIN_LIVE_USAGE, ADMIN_USAGE_USERS, DASHBOARD, FORM_MESSAGE, SERVERS, SPAWN_MESSAGE,
  USAGE_SESSIONS, USAGE_SUMMARY,
} from './ids';

async function startGpuServer(page: Page) {
  await page.goto('/hub/home');
  await hydrated(page);
  await page.getByRole('radio', { name: /Base/ }).check();
  await page.getByLabel('Size').selectOption('gpu-test');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
}

async function person(browser: Browser, name: string, password: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await signIn(page, name, password);
  await expect(page.getByTestId(DASHBOARD)).toBeVisible();
  return page;
}

test('with one GPU, the second person waits in the queue and their server starts by itself when the first stops', async ({ browser }) => {
  const admin = await person(browser, ADMIN.name, ADMIN.password);
  const dora = await person(browser, 'dora', 'dora-password-1');

  // The launch form says how many GPUs are free.
  await admin.goto('/hub/home');
  await hydrated(admin);
  await expect(admin.getByLabel('Size').locator('option[value="gpu-test"]')).toHaveText(/1 of 1 GPUs free/);

  // The first person gets the GPU and lands in JupyterLab.
  await startGpuServer(admin);
  await admin.waitForURL(/\/user\/admin\/lab/, { timeout: 120_000 });

  // The second waits: position 1, with the GPU in use.
  await startGpuServer(dora);
  await expect(dora).toHaveURL(/\/hub\/spawn-pending\/dora$/);
  await expect(dora.getByTestId(SPAWN_MESSAGE)).toContainText('position 1 of 1', { timeout: 30_000 });
  await expect(dora.getByTestId(SPAWN_MESSAGE)).toContainText('1 of 1 GPUs in use');

  // The admin's GPU page shows who holds the GPU and who waits.
  await admin.goto('/hub/admin/gpus');
  await hydrated(admin);
  await expect(admin.getByTestId(ADMIN_GPUS).locator('tr[data-gpu="GPU-e2e-0000"]')).toContainText('held by admin/');
  await expect(admin.getByTestId(ADMIN_GPU_QUEUE).locator('tr[data-queued="dora"]')).toContainText('1');
  // Live usage names the running server and its GPU.
  await expect(admin.getByTestId(ADMIN_LIVE_USAGE).locator('tr[data-server="admin"]')).toContainText('1 GPU', { timeout: 20_000 });

  // The first stops from the dashboard; the second's server starts by itself and opens.
  await admin.goto('/hub/home');
  await hydrated(admin);
  const row = admin.getByTestId(SERVERS).locator('tr[data-server="default"]');
  await expect(row).toContainText('running');
  await row.getByRole('button', { name: 'Stop' }).click();
  await expect(row).toContainText('stopped', { timeout: 60_000 });
  await dora.waitForURL(/\/user\/dora\/lab/, { timeout: 120_000 });

  // The admin's own usage page lists the GPU session that just ended.
  await admin.goto('/hub/usage');
  await hydrated(admin);
  await expect(admin.getByTestId(USAGE_SUMMARY)).toContainText(/GPU-hours used in the last 7 days/);
  await expect(admin.getByTestId(USAGE_SESSIONS).locator('tr[data-server="default"]')).toContainText('gpu-test');

  // On the Usage tab the admin gives Dora a limit of her own; her line says where it comes from.
  await admin.goto('/hub/admin/usage');
  await hydrated(admin);
  const other = admin.locator('form.limits-form').last();
  await other.getByLabel('Name').fill('dora');
  await other.getByLabel('GPUs at once').fill('1');
  await other.getByRole('button', { name: 'Save' }).click();
  await expect(admin.getByTestId(FORM_MESSAGE)).toHaveText('Limits saved.');
  await expect(admin.getByTestId(ADMIN_USAGE_USERS).locator('tr[data-name="dora"]')).toContainText('from override');

  // Dora stops too, leaving the GPU free for the other tests' runs.
  await dora.goto('/hub/home');
  await hydrated(dora);
  const doraRow = dora.getByTestId(SERVERS).locator('tr[data-server="default"]');
  await doraRow.getByRole('button', { name: 'Stop' }).click();
  await expect(doraRow).toContainText('stopped', { timeout: 60_000 });
});
