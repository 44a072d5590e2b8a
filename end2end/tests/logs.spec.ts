import { expect, hydrated, signIn, test } from './fixtures';
import { SERVER_LOG, SERVER_LOG_TEXT, SERVERS, SPAWN_MESSAGE } from './ids';

test('a person whose server cannot start reads why in its log, on the progress page and on the dashboard', async ({ page }) => {
  await signIn(page, 'fern', 'fern-password-1');
  await hydrated(page);
  await page.getByRole('radio', { name: /Broken on purpose/ }).check();
  await page.getByLabel('Size').selectOption('small');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page).toHaveURL(/\/hub\/spawn-pending\/fern$/);
  await expect(page.getByTestId(SPAWN_MESSAGE)).toContainText('Start failed', { timeout: 120_000 });
  // The progress page shows what the server wrote before it exited.
  await expect(page.getByTestId(SERVER_LOG_TEXT)).toContainText('cannot read /etc/jupyter/broken.py', { timeout: 30_000 });

  // The dashboard: the stopped server with its error, and its log on request.
  await page.goto('/hub/home');
  await hydrated(page);
  const row = page.getByTestId(SERVERS).locator('tr[data-server="default"]');
  await expect(row).toContainText('stopped');
  await row.getByTestId(SERVER_LOG).getByRole('button', { name: 'Server log' }).click();
  await expect(row.getByTestId(SERVER_LOG_TEXT)).toContainText('(on purpose)');
});
